import { memo, type KeyboardEvent } from "react";
import { direction, formatChange, formatPercent, formatPrice, formatTime, formatVolume } from "../format/numbers";
import { updatedAt } from "../market/boardQuery";
import type { QuoteRow } from "../market/types";
import { displayName } from "../market/universe";

export interface BoardRowProps {
  symbol: string;
  row: QuoteRow | undefined;
  stale: boolean;
  selected: boolean;
  onSelect(symbol: string): void;
  onRemove(symbol: string): void;
}

const DIR = { "-1": "down", "0": "flat", "1": "up" } as const;

function moveFocus(event: KeyboardEvent<HTMLTableRowElement>, forward: boolean) {
  const target = forward ? event.currentTarget.nextElementSibling : event.currentTarget.previousElementSibling;
  if (target instanceof HTMLElement) {
    event.preventDefault();
    target.focus();
  }
}

/**
 * One watchlist symbol. Memoized: it renders again only when its row object (a new tick),
 * its stale marker or its selection changes — not when other symbols tick.
 */
export const BoardRow = memo(function BoardRow({ symbol, row, stale, selected, onSelect, onRemove }: BoardRowProps) {
  const tick = row?.tick;
  const moved = tick && row.prevLtp !== null && tick.ltp !== null ? direction(tick.ltp - row.prevLtp) : 0;
  const dir = DIR[direction(tick?.change ?? null)];
  const name = displayName(symbol);

  const onKeyDown = (event: KeyboardEvent<HTMLTableRowElement>) => {
    if (event.target !== event.currentTarget) return;
    if (event.key === "Enter" || event.key === " ") {
      event.preventDefault();
      onSelect(symbol);
    } else if (event.key === "ArrowDown") moveFocus(event, true);
    else if (event.key === "ArrowUp") moveFocus(event, false);
  };

  return (
    <tr
      tabIndex={0}
      data-testid="board-row"
      data-symbol={symbol}
      data-stale={stale ? "true" : undefined}
      aria-selected={selected}
      onClick={() => onSelect(symbol)}
      onKeyDown={onKeyDown}
    >
      <td data-col="symbol" title={symbol}>
        <span className="name">{name}</span>
        {stale && (
          <span className="stale" data-testid="stale-marker" title="No update recently">
            stale
          </span>
        )}
      </td>
      <td data-col="ltp" data-testid="cell-ltp">
        {/* Keyed by seq so the flash animation restarts on every price move. */}
        <span key={tick?.seq} className={moved > 0 ? "flash-up" : moved < 0 ? "flash-down" : undefined}>
          {formatPrice(tick?.ltp ?? null)}
        </span>
      </td>
      <td data-col="change" data-dir={dir}>
        {formatChange(tick?.change ?? null)}
      </td>
      <td data-col="change_pct" data-dir={dir} data-testid="cell-change-pct">
        {formatPercent(tick?.change_pct ?? null)}
      </td>
      <td data-col="bid" data-wide>
        {formatPrice(tick?.bid ?? null)}
      </td>
      <td data-col="ask" data-wide>
        {formatPrice(tick?.ask ?? null)}
      </td>
      <td data-col="volume" data-wide>
        {formatVolume(tick?.volume ?? null)}
      </td>
      <td data-col="open" data-wide>
        {formatPrice(tick?.open ?? null)}
      </td>
      <td data-col="high" data-wide>
        {formatPrice(tick?.high ?? null)}
      </td>
      <td data-col="low" data-wide>
        {formatPrice(tick?.low ?? null)}
      </td>
      <td data-col="updated" data-wide>
        {formatTime(tick ? updatedAt(tick) : null)}
      </td>
      <td data-col="remove">
        <button
          type="button"
          className="remove"
          aria-label={`Remove ${name} from the watchlist`}
          data-testid="remove-symbol"
          onClick={(event) => {
            event.stopPropagation();
            onRemove(symbol);
          }}
        >
          ×
        </button>
      </td>
    </tr>
  );
});
