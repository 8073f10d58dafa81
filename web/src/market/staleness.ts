import type { QuoteRow } from "./types";

/**
 * Symbols whose newest tick arrived more than `staleAfterMs` ago. Returns `previous` itself
 * when the answer did not change, so consumers re-render only when a marker flips.
 */
export function staleSymbols(
  rows: ReadonlyMap<string, QuoteRow>,
  now: number,
  staleAfterMs: number,
  previous: ReadonlySet<string>,
): ReadonlySet<string> {
  const stale = new Set<string>();
  for (const [symbol, row] of rows) {
    if (now - row.receivedAt > staleAfterMs) stale.add(symbol);
  }
  if (stale.size === previous.size && [...stale].every((s) => previous.has(s))) return previous;
  return stale;
}
