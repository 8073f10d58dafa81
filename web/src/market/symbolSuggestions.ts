import { displayName, KNOWN_SYMBOLS, normalizeSymbol } from "./universe";

export interface Suggestion {
  symbol: string;
  name: string;
  onWatchlist: boolean;
}

/**
 * What the search box offers for `text`: known and watched symbols that match, and — when
 * the text names a symbol nobody listed — that symbol itself, so any symbol the upstream
 * knows can be added (and an unknown one is refused by the gateway, visibly).
 */
export function suggestSymbols(text: string, watchlist: readonly string[], limit = 8): Suggestion[] {
  const needle = text.trim().toUpperCase();
  if (needle === "") return [];
  const watched = new Set(watchlist);
  const candidates = [...new Set([...KNOWN_SYMBOLS, ...watchlist])];
  const matches = candidates.filter(
    (s) => s.toUpperCase().includes(needle) || displayName(s).toUpperCase().includes(needle),
  );
  // Names that start with the text first, then the rest, each in list order.
  matches.sort((a, b) => Number(!displayName(a).startsWith(needle)) - Number(!displayName(b).startsWith(needle)));
  // The typed text as a symbol leads when it is one, or when no known name starts with it
  // ("NOPE" → NSE:NOPE-EQ); otherwise it trails the known ones ("sensex" → BSE:SENSEX-INDEX first).
  const typed = normalizeSymbol(text);
  let shown = matches.slice(0, limit);
  if (typed !== null && matches.includes(typed)) {
    shown = [typed, ...matches.filter((s) => s !== typed)].slice(0, limit);
  } else if (typed !== null) {
    const leads = matches.length === 0 || !displayName(matches[0]!).startsWith(needle);
    shown = leads ? [typed, ...matches].slice(0, limit) : [...matches.slice(0, limit - 1), typed];
  }
  return shown.map((symbol) => ({ symbol, name: displayName(symbol), onWatchlist: watched.has(symbol) }));
}
