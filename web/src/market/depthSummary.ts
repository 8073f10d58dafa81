import type { Depth, DepthLevel, Tick } from "./types";

export interface DepthView {
  bids: DepthLevel[];
  asks: DepthLevel[];
  /** Quantity over the levels shown, each side. */
  bidTotal: number | null;
  askTotal: number | null;
  /** Best ask − best bid, and that as a percentage of the mid price. */
  spread: number | null;
  spreadPct: number | null;
  /** True while only the quote's best bid/ask is known (the depth subscription has not answered yet). */
  topOnly: boolean;
}

function sum(levels: DepthLevel[]): number | null {
  return levels.length === 0 ? null : levels.reduce((total, level) => total + level[1], 0);
}

/**
 * What the depth panel shows: the five levels when depth has arrived, otherwise the best bid
 * and ask from the quote the board already holds (so selecting a row fills the panel at once).
 */
export function depthView(depth: Depth | null, tick: Tick | undefined): DepthView | null {
  let bids: DepthLevel[];
  let asks: DepthLevel[];
  if (depth !== null) {
    bids = depth.bids.slice(0, 5);
    asks = depth.asks.slice(0, 5);
  } else if (tick !== undefined && (tick.bid !== null || tick.ask !== null)) {
    bids = tick.bid !== null ? [[tick.bid, tick.bid_qty ?? 0, 0]] : [];
    asks = tick.ask !== null ? [[tick.ask, tick.ask_qty ?? 0, 0]] : [];
  } else {
    return null;
  }
  const bestBid = bids[0]?.[0];
  const bestAsk = asks[0]?.[0];
  const spread = bestBid !== undefined && bestAsk !== undefined ? bestAsk - bestBid : null;
  const mid = bestBid !== undefined && bestAsk !== undefined ? (bestBid + bestAsk) / 2 : null;
  return {
    bids,
    asks,
    bidTotal: sum(bids),
    askTotal: sum(asks),
    spread,
    spreadPct: spread !== null && mid !== null && mid > 0 ? (spread / mid) * 100 : null,
    topOnly: depth === null,
  };
}
