import type { Depth, QuoteRow, Tick } from "./types";

/**
 * Merge a batch of ticks into the board, keeping per symbol only a tick with a higher `seq`
 * than the one held. The gateway promises a strictly increasing `seq` per symbol and client,
 * but a resubscribe after a reconnect replays a snapshot that may be no newer than what the
 * page shows; anything not newer is dropped here.
 *
 * Returns `rows` itself when nothing changed, so React can skip the render; otherwise a new
 * map in which only changed rows are new objects (memoized rows compare by identity).
 */
export function mergeTicks(
  rows: ReadonlyMap<string, QuoteRow>,
  ticks: Iterable<Tick>,
  receivedAt: number,
): ReadonlyMap<string, QuoteRow> {
  let next: Map<string, QuoteRow> | null = null;
  for (const tick of ticks) {
    const held = (next ?? rows).get(tick.symbol);
    if (held !== undefined && tick.seq <= held.tick.seq) continue;
    next ??= new Map(rows);
    next.set(tick.symbol, {
      tick,
      receivedAt,
      prevLtp: held ? held.tick.ltp : null,
    });
  }
  return next ?? rows;
}

/** The newer of the held depth and the incoming ones for `symbol`. */
export function mergeDepth(held: Depth | null, incoming: readonly Depth[], symbol: string): Depth | null {
  let best = held !== null && held.symbol === symbol ? held : null;
  for (const depth of incoming) {
    if (depth.symbol !== symbol) continue;
    if (best === null || depth.seq > best.seq) best = depth;
  }
  return best;
}
