import { useEffect, useId, useMemo, useState, type KeyboardEvent } from "react";
import styled from "styled-components";
import { useWatchlist } from "../market/MarketContext";
import { displayName } from "../market/universe";
import { suggestSymbols, type Suggestion } from "../market/symbolSuggestions";
import { Button, TextInput } from "./controls";

const Wrap = styled.div`
  position: relative;
  display: flex;
  gap: 6px;
  flex: 1 1 220px;
  max-width: 320px;
  min-width: 0;
  @media (max-width: 700px) { flex: 1 1 120px; max-width: none; gap: 4px; }
`;

const List = styled.ul`
  position: absolute;
  top: calc(100% + 4px);
  left: 0;
  right: 0;
  z-index: 10;
  margin: 0;
  padding: 4px;
  list-style: none;
  border-radius: 8px;
  border: 1px solid ${({ theme }) => theme.colors.border};
  background: ${({ theme }) => theme.colors.surface};
  box-shadow: 0 6px 20px rgba(0, 0, 0, 0.2);
  li {
    display: flex;
    justify-content: space-between;
    gap: 8px;
    padding: 6px 8px;
    border-radius: 6px;
    cursor: pointer;
  }
  li[aria-selected="true"], li:hover { background: ${({ theme }) => theme.colors.selected}; }
  small { color: ${({ theme }) => theme.colors.textMuted}; }
`;

const Message = styled.p`
  position: absolute;
  top: calc(100% + 4px);
  left: 0;
  z-index: 10;
  margin: 0;
  padding: 2px 8px;
  border-radius: 4px;
  background: ${({ theme }) => theme.colors.surface};
  font-size: 12px;
  color: ${({ theme }) => theme.colors.textMuted};
`;

/** How long "Added SBIN" stays under the search box (ms). */
const CONFIRMATION_MS = 3_000;

/** Add a symbol to the watchlist, or remove one: a combobox over known symbols and what is typed. */
export function SymbolSearch() {
  const { symbols, add, remove } = useWatchlist();
  const [text, setText] = useState("");
  const [open, setOpen] = useState(false);
  const [active, setActive] = useState(0);
  const [message, setMessage] = useState<string | null>(null);
  const listId = useId();
  const suggestions = useMemo(() => suggestSymbols(text, symbols), [text, symbols]);
  const expanded = open && suggestions.length > 0;

  const choose = async (suggestion: Suggestion) => {
    setOpen(false);
    setText("");
    if (suggestion.onWatchlist) {
      // The removal's own notice (with Undo) says it.
      setMessage(null);
      remove(suggestion.symbol);
      return;
    }
    const name = displayName(suggestion.symbol);
    setMessage(`Adding ${name}…`);
    const result = await add(suggestion.symbol);
    // A refusal is told once, by the notice in plain words; here only a confirmation.
    setMessage(result === "added" || result === "exists" ? `Added ${name}` : null);
  };

  // Confirmations clear by themselves.
  useEffect(() => {
    if (message === null || message.endsWith("…")) return;
    const timer = setTimeout(() => setMessage(null), CONFIRMATION_MS);
    return () => clearTimeout(timer);
  }, [message]);

  const onKeyDown = (event: KeyboardEvent<HTMLInputElement>) => {
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      setOpen(true);
      const step = event.key === "ArrowDown" ? 1 : -1;
      setActive((i) => (suggestions.length === 0 ? 0 : (i + step + suggestions.length) % suggestions.length));
    } else if (event.key === "Enter") {
      event.preventDefault();
      const pick = suggestions[active] ?? suggestions[0];
      if (pick) void choose(pick);
    } else if (event.key === "Escape") {
      setOpen(false);
    }
  };

  const first = suggestions[0];
  return (
    <Wrap>
      <label className="visually-hidden" htmlFor={`${listId}-input`}>
        Add or remove a symbol
      </label>
      <TextInput
        id={`${listId}-input`}
        role="combobox"
        aria-expanded={expanded}
        aria-controls={listId}
        aria-autocomplete="list"
        aria-activedescendant={expanded ? `${listId}-${active}` : undefined}
        placeholder="Add symbol…"
        value={text}
        autoComplete="off"
        spellCheck={false}
        onChange={(event) => {
          setText(event.target.value);
          setActive(0);
          setOpen(true);
          setMessage(null);
        }}
        onKeyDown={onKeyDown}
        onBlur={() => setTimeout(() => setOpen(false), 150)}
        data-testid="symbol-search"
      />
      <Button
        type="button"
        disabled={first === undefined}
        onClick={() => first && void choose(first)}
        data-testid="search-add"
      >
        <span aria-hidden="true">{first?.onWatchlist ? "−" : "+"}</span>
        <span className="label">{first?.onWatchlist ? "Remove" : "Add"}</span>
      </Button>
      {expanded && (
        <List id={listId} role="listbox" data-testid="search-suggestions">
          {suggestions.map((s, i) => (
            <li
              key={s.symbol}
              id={`${listId}-${i}`}
              role="option"
              aria-selected={i === active}
              data-testid="search-option"
              data-symbol={s.symbol}
              onMouseDown={(event) => event.preventDefault()}
              onClick={() => void choose(s)}
            >
              <span>
                {s.name} <small>{s.symbol}</small>
              </span>
              <small>{s.onWatchlist ? "remove" : "add"}</small>
            </li>
          ))}
        </List>
      )}
      {!expanded && message !== null && (
        <Message role="status" data-testid="search-message">
          {message}
        </Message>
      )}
    </Wrap>
  );
}
