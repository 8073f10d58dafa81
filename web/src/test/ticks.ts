import type { Bar, Depth, Tick } from "../market/types";

/** A contract-shaped tick with sensible values; override what the test is about. */
export function makeTick(symbol: string, seq: number, fields: Partial<Tick> = {}): Tick {
  const index = symbol.endsWith("-INDEX");
  return {
    v: 1,
    symbol,
    kind: index ? "index" : "quote",
    seq,
    ltp: 100,
    open: 99,
    high: 101,
    low: 98,
    prev_close: 99,
    change: 1,
    change_pct: 1.0101,
    volume: index ? null : 1000,
    ltq: index ? null : 10,
    avg_price: index ? null : 100,
    bid: index ? null : 99.95,
    ask: index ? null : 100.05,
    bid_qty: index ? null : 10,
    ask_qty: index ? null : 12,
    tot_buy_qty: index ? null : 100,
    tot_sell_qty: index ? null : 120,
    ltt: 1_764_000_000_000,
    exch_ts: 1_764_000_000_000,
    ingest_ts: 1_764_000_000_010,
    ...fields,
  };
}

export function makeDepth(symbol: string, seq: number): Depth {
  return {
    v: 1,
    symbol,
    seq,
    bids: [1, 2, 3, 4, 5].map((i) => [100 - i * 0.05, i * 10, i]),
    asks: [1, 2, 3, 4, 5].map((i) => [100 + i * 0.05, i * 11, i]),
    ingest_ts: 1_764_000_000_010,
  };
}

/** A contract-shaped one-minute bar of minute `minute` (0 = 09:15 IST on 2026-12-04). */
export function makeBar(symbol: string, minute: number, fields: Partial<Bar> = {}): Bar {
  return {
    v: 1,
    symbol,
    tf: "1m",
    start: 1_764_819_900_000 + minute * 60_000,
    open: 100,
    high: 101,
    low: 99,
    close: 100.5,
    volume: symbol.endsWith("-INDEX") ? null : 500,
    ticks: 10,
    final: false,
    seq: 10 * (minute + 1),
    ...fields,
  };
}
