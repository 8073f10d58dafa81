import type { QuoteRow } from "../market/types";

/**
 * Rows scrolled out of view stay in the DOM (Ctrl+F, screen readers, selectors) but are
 * brought up to date at most this often (ms); rows in view follow every frame.
 */
export const OFFSCREEN_REFRESH_MS = 1000;

/** Rows above and below the visible ones that are kept as current as the visible ones. */
export const OVERSCAN_ROWS = 6;

/** Indices `[first, last]` of the rows in view (plus overscan); null = unknown, treat all as in view. */
export type RowRange = readonly [number, number] | null;

/**
 * Which rows of a list of fixed-height rows are in view. `bodyTop` is where the first row
 * starts and `clipTop`/`clipBottom` the visible band, all in the same (viewport) coordinates.
 * Returns null when there is no layout to go by (a zero-height band: jsdom, a hidden page).
 */
export function visibleRows(
  clipTop: number,
  clipBottom: number,
  bodyTop: number,
  rowHeight: number,
  count: number,
  overscan = OVERSCAN_ROWS,
): RowRange {
  if (!(clipBottom > clipTop) || !(rowHeight > 0)) return null;
  const first = Math.max(0, Math.floor((clipTop - bodyTop) / rowHeight) - overscan);
  const last = Math.min(count - 1, Math.ceil((clipBottom - bodyTop) / rowHeight) + overscan);
  return [first, Math.max(first, last)];
}

export const sameRange = (a: RowRange, b: RowRange): boolean =>
  a === b || (a !== null && b !== null && a[0] === b[0] && a[1] === b[1]);

/** The row a board row last rendered, and the refresh slot it was taken in. */
export interface ShownRow {
  row: QuoteRow | undefined;
  slot: number;
}

/** A fixed offset (ms, below `refreshMs`) per symbol, so rows out of view refresh in different frames. */
export function refreshPhase(symbol: string, refreshMs = OFFSCREEN_REFRESH_MS): number {
  let hash = 0;
  for (let i = 0; i < symbol.length; i++) hash = (hash * 31 + symbol.charCodeAt(i)) >>> 0;
  return hash % refreshMs;
}

/**
 * The row to render for one symbol: the newest when the row is in view or showed nothing
 * yet; out of view, once per refresh slot (`refreshMs` long, shifted by `phaseMs`), else what
 * it already shows. So a row out of view re-renders about once a second instead of on every
 * tick, and different rows do so in different frames.
 */
export function rowToShow(
  shown: ShownRow | undefined,
  newest: QuoteRow | undefined,
  inView: boolean,
  now: number,
  phaseMs = 0,
  refreshMs = OFFSCREEN_REFRESH_MS,
): ShownRow {
  const slot = Math.floor((now + phaseMs) / refreshMs);
  if (shown !== undefined && shown.row === newest) return shown;
  if (inView || shown === undefined || shown.row === undefined || slot !== shown.slot) return { row: newest, slot };
  return shown;
}

/**
 * The rows the board shows, for every watched symbol: {@link rowToShow} of each, a symbol
 * counting as in view when its position on the board last frame was in `inView` (or it had
 * none: just added, or just let through by a filter). The board filters and sorts these, not
 * the newest, so a row's place always agrees with what it shows. Updates `shown`; `holding`
 * says whether any row holds a tick back.
 */
export function rowsToShow(
  symbols: readonly string[],
  newest: ReadonlyMap<string, QuoteRow>,
  shown: Map<string, ShownRow>,
  position: ReadonlyMap<string, number>,
  inView: RowRange,
  now: number,
): { rows: Map<string, QuoteRow>; holding: boolean } {
  const rows = new Map<string, QuoteRow>();
  let holding = false;
  for (const symbol of symbols) {
    const index = position.get(symbol);
    const visible = inView === null || index === undefined || (index >= inView[0] && index <= inView[1]);
    const latest = newest.get(symbol);
    const next = rowToShow(shown.get(symbol), latest, visible, now, refreshPhase(symbol));
    shown.set(symbol, next);
    if (next.row !== latest) holding = true;
    if (next.row !== undefined) rows.set(symbol, next.row);
  }
  return { rows, holding };
}
