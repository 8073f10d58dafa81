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
  { key: "updated", label: "Updated", wide: true },
];

/**
 * Column widths, fixed so that a changing price never re-lays out more than its own cell:
 * every row is its own grid on the same template. The last track is the remove button.
 */
export const GRID_COLUMNS = {
  // symbol | LTP chg chg% bid ask | volume | open high low | updated | remove — prices get
  // room for index levels like "59,139.39" without truncation.
  wide: "minmax(110px, 1.4fr) repeat(5, minmax(84px, 1fr)) minmax(76px, 0.9fr) repeat(3, minmax(84px, 1fr)) minmax(80px, 1fr) 32px",
  /** The sum of the minimums above: below it the board scrolls sideways. */
  wideMinPx: 110 + 5 * 84 + 76 + 3 * 84 + 80 + 32,
  narrow: "minmax(96px, 1.3fr) minmax(80px, 1fr) minmax(60px, 0.8fr) minmax(60px, 0.8fr) 24px",
  narrowMinPx: 96 + 80 + 60 + 60 + 24,
};
