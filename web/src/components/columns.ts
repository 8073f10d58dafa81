import type { SortKey } from "../market/boardQuery";

export interface Column {
  key: SortKey;
  label: string;
  /** Hidden below 700 px wide; the phone layout keeps symbol, LTP, change and change %. */
  wide?: boolean;
}

/** The board's columns, in order. The row renders cells in the same order. */
export const COLUMNS: readonly Column[] = [
  { key: "symbol", label: "Symbol" },
  { key: "ltp", label: "LTP" },
  { key: "change", label: "Chg" },
  { key: "change_pct", label: "Chg %" },
  { key: "bid", label: "Bid", wide: true },
  { key: "ask", label: "Ask", wide: true },
  { key: "volume", label: "Volume", wide: true },
  { key: "open", label: "Open", wide: true },
  { key: "high", label: "High", wide: true },
  { key: "low", label: "Low", wide: true },
];

/** Width of the sparkline column (px); the sparkline is drawn to fit it. */
export const SPARK_WIDTH = 72;
export const SPARK_HEIGHT = 18;

const SYMBOL_MIN = 150;
const PRICE_MIN = 84;
const VOLUME_MIN = 76;
const REMOVE = 28;

/**
 * Column widths, fixed so that a changing price never re-lays out more than its own cell:
 * every row is its own grid on the same template. The last track is the remove button; the
 * one before it, when sparklines are on, the sparkline. The symbol column fits the longest
 * NIFTY 50 name plus the stale mark's fixed slot, so a mark never truncates a name.
 */
const wide = (spark: boolean) =>
  `minmax(${SYMBOL_MIN}px, 1.6fr) repeat(5, minmax(${PRICE_MIN}px, 1fr)) minmax(${VOLUME_MIN}px, 0.9fr) ` +
  `repeat(3, minmax(${PRICE_MIN}px, 1fr))${spark ? ` ${SPARK_WIDTH}px` : ""} ${REMOVE}px`;

export const GRID_COLUMNS = {
  wide: wide(false),
  wideSpark: wide(true),
  /** The sum of the minimums above: below it the board scrolls sideways. */
  wideMinPx: SYMBOL_MIN + 8 * PRICE_MIN + VOLUME_MIN + REMOVE,
  wideSparkMinPx: SYMBOL_MIN + 8 * PRICE_MIN + VOLUME_MIN + SPARK_WIDTH + REMOVE,
  /** Phones: symbol, LTP, change, change % and the remove button; no sparkline. */
  narrow: "minmax(126px, 1.5fr) minmax(72px, 1fr) minmax(56px, 0.8fr) minmax(58px, 0.8fr) 24px",
  narrowMinPx: 126 + 72 + 56 + 58 + 24,
};
