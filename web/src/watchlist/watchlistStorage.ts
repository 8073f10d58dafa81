import { DEFAULT_WATCHLIST } from "../market/universe";

/** Watchlists are kept per signed-in user (the token's `sub`) in this browser. */
export function watchlistKey(sub: string): string {
  return `livews.watchlist.${sub}`;
}

type Storage = Pick<globalThis.Storage, "getItem" | "setItem">;

/** The user's saved watchlist, or the default one when none is saved or it is unreadable. */
export function loadWatchlist(storage: Storage | null, sub: string): string[] {
  try {
    const raw = storage?.getItem(watchlistKey(sub));
    if (raw == null) return [...DEFAULT_WATCHLIST];
    const parsed: unknown = JSON.parse(raw);
    if (Array.isArray(parsed) && parsed.every((s) => typeof s === "string")) return dedupe(parsed);
  } catch {
    // corrupt or blocked storage: start from the default
  }
  return [...DEFAULT_WATCHLIST];
}

export function saveWatchlist(storage: Storage | null, sub: string, symbols: readonly string[]): void {
  try {
    storage?.setItem(watchlistKey(sub), JSON.stringify(symbols));
  } catch {
    // quota or privacy mode: the list lasts for this page only
  }
}

function dedupe(symbols: readonly string[]): string[] {
  return [...new Set(symbols)];
}

/** `symbol` added at the end, or at `index` (an undone removal goes back where it was). */
export function withSymbol(list: readonly string[], symbol: string, index?: number): string[] {
  if (list.includes(symbol)) return [...list];
  const at = index === undefined ? list.length : Math.max(0, Math.min(index, list.length));
  return [...list.slice(0, at), symbol, ...list.slice(at)];
}

export function withoutSymbols(list: readonly string[], symbols: readonly string[]): string[] {
  const drop = new Set(symbols);
  return list.filter((s) => !drop.has(s));
}

export function browserStorage(): Storage | null {
  try {
    return window.localStorage;
  } catch {
    return null;
  }
}
