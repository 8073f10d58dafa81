/** Wire types of the gateway's Socket.IO API (CONTRACT.md §3–§4, version 1). */

export type TickKind = "quote" | "index";

/** One market update. Every timestamp is epoch milliseconds; absent values are null. */
export interface Tick {
  v: 1;
  symbol: string;
  kind: TickKind;
  seq: number;
  ltp: number | null;
  open: number | null;
  high: number | null;
  low: number | null;
  prev_close: number | null;
  change: number | null;
  change_pct: number | null;
  volume: number | null;
  ltq: number | null;
  avg_price: number | null;
  bid: number | null;
  ask: number | null;
  bid_qty: number | null;
  ask_qty: number | null;
  tot_buy_qty: number | null;
  tot_sell_qty: number | null;
  ltt: number | null;
  exch_ts: number | null;
  ingest_ts: number | null;
}

/** [price, quantity, orders] */
export type DepthLevel = [number, number, number];

export interface Depth {
  v: 1;
  symbol: string;
  seq: number;
  bids: DepthLevel[];
  asks: DepthLevel[];
  ingest_ts: number | null;
}

export type UpstreamState = "up" | "degraded" | "down";

/** The exchange session (CONTRACT §3 v1.1); absent from gateways older than v1.1. */
export type MarketSession = "pre_open" | "open" | "closed";

export interface UpstreamStatus {
  upstream: UpstreamState;
  ts: number;
  market?: MarketSession | null;
}

export type SubscriptionMode = "quote" | "depth" | "bars";

/** One-minute bar (CONTRACT §4 v1.1): built by the ingestor from the ticks it publishes. */
export interface Bar {
  v: 1;
  symbol: string;
  tf: "1m";
  /** Epoch ms of the minute's start. */
  start: number;
  open: number;
  high: number;
  low: number;
  close: number;
  /** Traded in this minute; null for indices. */
  volume: number | null;
  ticks: number;
  final: boolean;
  /** The last Tick seq folded in. */
  seq: number;
}

export interface Rejection {
  symbol: string;
  code: string;
  message: string;
}

export interface SubscribeAck {
  ok: boolean;
  subscribed?: string[];
  rejected?: Rejection[];
  code?: string;
  message?: string;
}

export interface Bye {
  code: string;
  message: string;
  reconnect: boolean;
}

/** A board row: the newest tick of a symbol plus what the browser knows about it. */
export interface QuoteRow {
  tick: Tick;
  /** Browser clock (ms) when the newest tick arrived; drives the stale marker. */
  receivedAt: number;
  /** LTP held before this tick, for the flash direction. */
  prevLtp: number | null;
}
