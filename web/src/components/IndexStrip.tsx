import { memo } from "react";
import styled from "styled-components";
import { direction, formatPercent, formatPrice } from "../format/numbers";
import { useQuotes, useSelection, useWatchlist } from "../market/MarketContext";
import type { QuoteRow } from "../market/types";
import { INDEX_CARDS } from "../market/universe";

const Strip = styled.section`
  display: flex;
  gap: 4px;
  min-width: 0;
  overflow: hidden;
  font-variant-numeric: tabular-nums;
`;

const Item = styled.button<{ $dir: -1 | 0 | 1 }>`
  all: unset;
  cursor: pointer;
  display: inline-flex;
  align-items: baseline;
  gap: 6px;
  padding: 2px 8px;
  border-radius: 6px;
  white-space: nowrap;
  &:hover { background: ${({ theme }) => theme.colors.surfaceAlt}; }
  &:focus-visible { outline: 2px solid ${({ theme }) => theme.colors.focus}; }
  &[aria-pressed="true"] { background: ${({ theme }) => theme.colors.selected}; }
  .name { font-size: 12px; font-weight: 600; color: ${({ theme }) => theme.colors.textMuted}; }
  .ltp { font-weight: 700; }
  .change {
    font-size: 12px;
    color: ${({ theme, $dir }) => ($dir > 0 ? theme.colors.up : $dir < 0 ? theme.colors.down : theme.colors.textMuted)};
  }
  /* On a phone the strip keeps to one line: the first index only, without its name. */
  @media (max-width: 700px) {
    padding: 2px 4px;
    &:not(:first-child) { display: none; }
    .name { display: none; }
  }
`;

const IndexItem = memo(function IndexItem(props: {
  symbol: string;
  name: string;
  row: QuoteRow | undefined;
  selected: boolean;
  onSelect(symbol: string): void;
}) {
  const tick = props.row?.tick;
  return (
    <Item
      type="button"
      data-testid="index-card"
      data-symbol={props.symbol}
      aria-pressed={props.selected}
      title={props.name}
      $dir={direction(tick?.change ?? null)}
      onClick={() => props.onSelect(props.symbol)}
    >
      <span className="name">{props.name}</span>
      <span className="ltp">{formatPrice(tick?.ltp ?? null)}</span>
      <span className="change">{formatPercent(tick?.change_pct ?? null)}</span>
    </Item>
  );
});

/** NIFTY 50, NIFTY BANK and SENSEX in one line of the header, for those on the watchlist. */
export function IndexStrip() {
  const rows = useQuotes();
  const { symbols } = useWatchlist();
  const { selected, select } = useSelection();
  const shown = INDEX_CARDS.filter((card) => symbols.includes(card.symbol));
  if (shown.length === 0) return null;
  return (
    <Strip aria-label="Indices" data-testid="index-strip">
      {shown.map((card) => (
        <IndexItem
          key={card.symbol}
          symbol={card.symbol}
          name={card.name}
          row={rows.get(card.symbol)}
          selected={selected === card.symbol}
          onSelect={select}
        />
      ))}
    </Strip>
  );
}
