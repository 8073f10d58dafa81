import styled from "styled-components";
import { useWatchlist } from "../market/MarketContext";

const List = styled.ul`
  margin: 0;
  padding: 0;
  list-style: none;
  display: grid;
  gap: 6px;
  li {
    display: flex;
    justify-content: space-between;
    gap: 8px;
    padding: 8px 12px;
    border-radius: 6px;
    border: 1px solid ${({ theme }) => theme.colors.danger};
    color: ${({ theme }) => theme.colors.danger};
    background: ${({ theme }) => theme.colors.surface};
  }
  button { all: unset; cursor: pointer; padding: 0 4px; }
  button:focus-visible { outline: 2px solid ${({ theme }) => theme.colors.focus}; }
`;

/** Server refusals (e.g. `invalid_symbol`) and other things the user should know. */
export function Notices() {
  const { notices, dismiss } = useWatchlist();
  return (
    <List role="status" aria-live="polite" data-testid="notices">
      {notices.map((n) => (
        <li key={n.id} data-testid="notice">
          <span>{n.text}</span>
          <button type="button" aria-label="Dismiss" onClick={() => dismiss(n.id)}>
            ×
          </button>
        </li>
      ))}
    </List>
  );
}
