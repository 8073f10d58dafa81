import { memo } from "react";
import styled from "styled-components";
import { direction, formatChange, formatPercent, formatPrice } from "../format/numbers";
import { useQuotes, useSelection, useWatchlist } from "../market/MarketContext";
import type { QuoteRow } from "../market/types";
import { INDEX_CARDS } from "../market/universe";

const Cards = styled.section`
  display: grid;
  grid-template-columns: repeat(auto-fit, minmax(160px, 1fr));
  gap: 10px;
`;

const Card = styled.button<{ $dir: -1 | 0 | 1 }>`
  all: unset;
  cursor: pointer;
  display: grid;
  gap: 2px;
  padding: 10px 14px;
  border-radius: 8px;
  background: ${({ theme }) => theme.colors.surface};
  border: 1px solid ${({ theme }) => theme.colors.border};
  font-variant-numeric: tabular-nums;
  &:focus-visible { outline: 2px solid ${({ theme }) => theme.colors.focus}; }
  &[aria-pressed="true"] { border-color: ${({ theme }) => theme.colors.accent}; }
  .name { font-size: 12px; font-weight: 600; color: ${({ theme }) => theme.colors.textMuted}; }
  .ltp { font-size: 20px; font-weight: 700; }
  .change {
    color: ${({ theme, $dir }) => ($dir > 0 ? theme.colors.up : $dir < 0 ? theme.colors.down : theme.colors.textMuted)};
  }
`;

const IndexCard = memo(function IndexCard(props: {
  symbol: string;
  name: string;
  row: QuoteRow | undefined;
  selected: boolean;
  onSelect(symbol: string): void;
}) {
  const tick = props.row?.tick;
  return (
    <Card
      type="button"
      data-testid="index-card"
      data-symbol={props.symbol}
      aria-pressed={props.selected}
      $dir={direction(tick?.change ?? null)}
      onClick={() => props.onSelect(props.symbol)}
    >
      <span className="name">{props.name}</span>
      <span className="ltp">{formatPrice(tick?.ltp ?? null)}</span>
      <span className="change">
        {formatChange(tick?.change ?? null)} ({formatPercent(tick?.change_pct ?? null)})
      </span>
    </Card>
  );
});

/** NIFTY 50, NIFTY BANK and SENSEX at a glance, for those on the watchlist. */
export function IndexCards() {
  const rows = useQuotes();
  const { symbols } = useWatchlist();
  const { selected, select } = useSelection();
  const shown = INDEX_CARDS.filter((card) => symbols.includes(card.symbol));
  if (shown.length === 0) return null;
  return (
    <Cards aria-label="Indices">
      {shown.map((card) => (
        <IndexCard
          key={card.symbol}
          symbol={card.symbol}
          name={card.name}
          row={rows.get(card.symbol)}
          selected={selected === card.symbol}
          onSelect={select}
        />
      ))}
    </Cards>
  );
}
