import { displayName, isIndexSymbol } from "./universe";
import type { QuoteRow, Tick } from "./types";

export type QuickFilter = "all" | "gainers" | "losers" | "indices";

export const QUICK_FILTERS: readonly { id: QuickFilter; label: string }[] = [
  { id: "all", label: "All" },
  { id: "gainers", label: "Gainers" },
  { id: "losers", label: "Losers" },
  { id: "indices", label: "Indices" },
];

export type SortKey =
  | "symbol"
  | "ltp"
  | "change"
  | "change_pct"
  | "bid"
  | "ask"
  | "volume"
  | "open"
  | "high"
  | "low"
  | "updated";

export type SortDirection = "asc" | "desc";

export interface SortOrder {
  key: SortKey;
  direction: SortDirection;
}

export interface BoardQuery {
  text: string;
  quick: QuickFilter;
  /** null keeps the watchlist order. */
  sort: SortOrder | null;
}

export const DEFAULT_QUERY: BoardQuery = { text: "", quick: "all", sort: null };

/** What a watchlist entry shows: its symbol and the newest row, if any tick has arrived. */
export interface BoardEntry {
  symbol: string;
  row: QuoteRow | undefined;
}

function sortValue(entry: BoardEntry, key: SortKey): number | string | null {
  if (key === "symbol") return displayName(entry.symbol);
  const tick = entry.row?.tick;
  if (tick === undefined) return null;
  if (key === "updated") return updatedAt(tick);
  return tick[key];
}

/** The time a row shows as "last update": trade time, else the exchange's, else ours. */
export function updatedAt(tick: Tick): number | null {
  return tick.ltt ?? tick.exch_ts ?? tick.ingest_ts;
}

function matchesQuick(entry: BoardEntry, quick: QuickFilter): boolean {
  switch (quick) {
    case "all":
      return true;
    case "indices":
      return entry.row?.tick.kind === "index" || isIndexSymbol(entry.symbol);
    case "gainers":
      return (entry.row?.tick.change_pct ?? 0) > 0;
    case "losers":
      return (entry.row?.tick.change_pct ?? 0) < 0;
  }
}

function matchesText(entry: BoardEntry, needle: string): boolean {
  if (needle === "") return true;
  return entry.symbol.toUpperCase().includes(needle) || displayName(entry.symbol).toUpperCase().includes(needle);
}

/** Compare two entries; unknown values sort last whatever the direction. */
function compare(a: BoardEntry, b: BoardEntry, order: SortOrder): number {
  const va = sortValue(a, order.key);
  const vb = sortValue(b, order.key);
  if (va === null || vb === null) return va === vb ? 0 : va === null ? 1 : -1;
  const sign = order.direction === "asc" ? 1 : -1;
  if (typeof va === "string" || typeof vb === "string") return sign * String(va).localeCompare(String(vb));
  return sign * (va - vb);
}

/** The rows the board shows, in order: watchlist order unless a sort is chosen. */
export function selectBoard(
  watchlist: readonly string[],
  rows: ReadonlyMap<string, QuoteRow>,
  query: BoardQuery,
): BoardEntry[] {
  const needle = query.text.trim().toUpperCase();
  const entries: BoardEntry[] = [];
  for (const symbol of watchlist) {
    const entry = { symbol, row: rows.get(symbol) };
    if (matchesQuick(entry, query.quick) && matchesText(entry, needle)) entries.push(entry);
  }
  const order = query.sort;
  if (order !== null) {
    // Array.prototype.sort is stable: equal values keep watchlist order.
    entries.sort((a, b) => compare(a, b, order));
  }
  return entries;
}

/** Clicking a column: first descending for numbers (biggest first), ascending for names; then flip; then off. */
export function nextSort(current: SortOrder | null, key: SortKey): SortOrder | null {
  const first: SortDirection = key === "symbol" ? "asc" : "desc";
  if (current === null || current.key !== key) return { key, direction: first };
  if (current.direction === first) return { key, direction: first === "asc" ? "desc" : "asc" };
  return null;
}
