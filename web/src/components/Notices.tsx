import styled from "styled-components";
import { useWatchlist } from "../market/MarketContext";

/** Toasts over the page's bottom edge: they never push the board down, and clear by themselves. */
const List = styled.ul`
  position: fixed;
  left: 50%;
  bottom: 16px;
  transform: translateX(-50%);
  z-index: 30;
  width: min(480px, calc(100vw - 16px));
  margin: 0;
  padding: 0;
  list-style: none;
  display: grid;
  gap: 6px;
  pointer-events: none;
  li {
    pointer-events: auto;
    display: flex;
    align-items: center;
    gap: 8px;
    padding: 8px 12px;
    border-radius: 8px;
    border: 1px solid ${({ theme }) => theme.colors.border};
    color: ${({ theme }) => theme.colors.text};
    background: ${({ theme }) => theme.colors.surface};
    box-shadow: 0 6px 20px rgba(0, 0, 0, 0.25);
  }
  li > span { flex: 1; }
  button { all: unset; cursor: pointer; padding: 2px 6px; border-radius: 4px; }
  button.action { font-weight: 600; color: ${({ theme }) => theme.colors.accent}; }
  button:focus-visible { outline: 2px solid ${({ theme }) => theme.colors.focus}; }
`;

/** Refusals in plain words (e.g. "NOSUCHTHING isn't a listed NSE/BSE symbol"), removals with Undo. */
export function Notices() {
  const { notices, dismiss } = useWatchlist();
  return (
    <List role="status" aria-live="polite" data-testid="notices">
      {notices.map((n) => (
        <li key={n.id} data-testid="notice">
          <span>{n.text}</span>
          {n.action !== undefined && (
            <button
              type="button"
              className="action"
              data-testid="notice-action"
              onClick={() => {
                n.action?.run();
                dismiss(n.id);
              }}
            >
              {n.action.label}
            </button>
          )}
          <button type="button" aria-label="Dismiss" onClick={() => dismiss(n.id)}>
            ×
          </button>
        </li>
      ))}
    </List>
  );
}
