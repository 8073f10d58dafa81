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
