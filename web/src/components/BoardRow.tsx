import { memo, useLayoutEffect, useRef, type KeyboardEvent } from "react";
import { direction, formatChange, formatPercent, formatPrice, formatTime, formatVolume } from "../format/numbers";
import { updatedAt } from "../market/boardQuery";
import { Flashes } from "./flashes";
import { Sparkline } from "./Sparkline";
import type { QuoteRow } from "../market/types";
import { displayName } from "../market/universe";

export interface BoardRowProps {
  symbol: string;
  row: QuoteRow | undefined;
  stale: boolean;
  selected: boolean;
  /** Show the day's sparkline cell. */
  spark: boolean;
  onSelect(symbol: string): void;
  onRemove(symbol: string): void;
}

/** A flash lasts this long (ms); a symbol moving faster flashes again only when it turns. */
export const FLASH_MS = 700;

/** One timer for every row's flash; a flash ends within a tenth of a second of FLASH_MS. */
const flashes = new Flashes(FLASH_MS, 100);

const DIR = { "-1": "down", "0": "flat", "1": "up" } as const;

function moveFocus(event: KeyboardEvent<HTMLDivElement>, forward: boolean) {
  const target = forward ? event.currentTarget.nextElementSibling : event.currentTarget.previousElementSibling;
  if (target instanceof HTMLElement) {
    event.preventDefault();
    target.focus();
  }
}

interface FlashState {
  row: QuoteRow | undefined;
  key: number;
  dir: -1 | 0 | 1;
  at: number;
}

/**
 * Which flash the LTP cell shows. A new key starts a flash; it changes on a price move when
 * the last flash is over or the direction turned, so at 10 updates/s a row does not restart
 * its flash ten times a second.
 */
function useFlash(row: QuoteRow | undefined): FlashState {
  const state = useRef<FlashState>({ row: undefined, key: 0, dir: 0, at: -Infinity });
  const held = state.current;
  if (row !== held.row) {
    const tick = row?.tick;
    const moved = tick && row.prevLtp !== null && tick.ltp !== null ? direction(tick.ltp - row.prevLtp) : 0;
    const due = moved !== 0 && (moved !== held.dir || row!.receivedAt - held.at >= FLASH_MS);
    state.current = due ? { row, key: held.key + 1, dir: moved, at: row!.receivedAt } : { ...held, row };
  }
  return state.current;
}

/**
 * One watchlist symbol. Memoized: it renders again only when its row object (a new tick),
 * its stale marker or its selection changes — not when other symbols tick.
 */
export const BoardRow = memo(function BoardRow({ symbol, row, stale, selected, spark, onSelect, onRemove }: BoardRowProps) {
  const tick = row?.tick;
  const flash = useFlash(row);
  const ltp = useRef<HTMLSpanElement>(null);
  useLayoutEffect(() => {
    if (flash.key !== 0 && ltp.current) flashes.start(ltp.current, flash.dir > 0);
  }, [flash.key, flash.dir]);
  useLayoutEffect(() => {
    const element = ltp.current;
    return () => {
      if (element) flashes.stop(element);
    };
  }, []);
  const dir = DIR[direction(tick?.change ?? null)];
  const name = displayName(symbol);

  const onKeyDown = (event: KeyboardEvent<HTMLDivElement>) => {
    if (event.target !== event.currentTarget) return;
    if (event.key === "Enter" || event.key === " ") {
      event.preventDefault();
      onSelect(symbol);
    } else if (event.key === "ArrowDown") moveFocus(event, true);
    else if (event.key === "ArrowUp") moveFocus(event, false);
  };

  return (
    <div
      role="row"
      tabIndex={0}
      className="row"
      data-testid="board-row"
      data-symbol={symbol}
      data-stale={stale ? "true" : undefined}
      aria-selected={selected}
      onClick={() => onSelect(symbol)}
      onKeyDown={onKeyDown}
    >
      <div role="rowheader" data-col="symbol" title={symbol}>
        <span className="name">{name}</span>
        {/* A fixed-width slot, always there: marking a row stale never narrows its name. */}
        <span className="mark">
          {stale && (
            <span
              className="stale"
              data-testid="stale-marker"
              role="img"
              aria-label="stale"
              title={`No update since ${formatTime(tick ? updatedAt(tick) ?? row!.receivedAt : null)}`}
            />
          )}
        </span>
      </div>
      <div role="gridcell" data-col="ltp" data-testid="cell-ltp">
        <span ref={ltp}>{formatPrice(tick?.ltp ?? null)}</span>
      </div>
      <div role="gridcell" data-col="change" data-dir={dir}>
        {formatChange(tick?.change ?? null)}
      </div>
      <div role="gridcell" data-col="change_pct" data-dir={dir} data-testid="cell-change-pct">
        {formatPercent(tick?.change_pct ?? null)}
      </div>
      <div role="gridcell" data-col="bid" data-wide="">
        {formatPrice(tick?.bid ?? null)}
      </div>
      <div role="gridcell" data-col="ask" data-wide="">
        {formatPrice(tick?.ask ?? null)}
      </div>
      <div role="gridcell" data-col="volume" data-wide="">
        {formatVolume(tick?.volume ?? null)}
      </div>
      <div role="gridcell" data-col="open" data-wide="">
        {formatPrice(tick?.open ?? null)}
      </div>
      <div role="gridcell" data-col="high" data-wide="">
        {formatPrice(tick?.high ?? null)}
      </div>
      <div role="gridcell" data-col="low" data-wide="">
        {formatPrice(tick?.low ?? null)}
      </div>
      {spark && (
        <div role="gridcell" data-col="spark" data-wide="">
          <Sparkline symbol={symbol} />
        </div>
      )}
      <div role="gridcell" data-col="remove">
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
      </div>
    </div>
  );
});
