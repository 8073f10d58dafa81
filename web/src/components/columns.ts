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
  wide: "minmax(120px, 1.6fr) repeat(9, minmax(64px, 1fr)) minmax(72px, 1fr) 32px",
  /** The sum of the minimums above: below it the board scrolls sideways. */
  wideMinPx: 800,
  narrow: "minmax(84px, 1.1fr) minmax(76px, 1fr) minmax(64px, 0.9fr) minmax(60px, 0.8fr) 24px",
  narrowMinPx: 308,
};
