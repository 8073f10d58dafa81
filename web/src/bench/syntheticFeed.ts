import type { FeedHandlers, MarketFeed } from "../gateway/feed";
import type { Bar, Depth, DepthLevel, SubscribeAck, Tick } from "../market/types";
import { isIndexSymbol } from "../market/universe";

export interface SyntheticFeedOptions {
  /** Updates per second of each subscribed symbol. */
  ratePerSymbol: number;
  /** How many timer batches per second carry them (a gateway batches too). */
  batchesPerSecond: number;
  random?: () => number;
  now?: () => number;
}

interface SymbolState {
  seq: number;
  ltp: number;
  open: number;
  high: number;
  low: number;
  prevClose: number;
  volume: number;
}

const MINUTE_MS = 60_000;
/** Bars of the day a bars subscription starts with (two hours of trading). */
const SNAPSHOT_BARS = 120;

/**
 * A {@link MarketFeed} that makes its own ticks, for the frame-time benchmark: the same
 * handlers and therefore the same coalescing and rendering path as the gateway socket,
 * without a server. Ticks are random walks with valid, contract-shaped fields.
 */
export class SyntheticFeed implements MarketFeed {
  private handlers: FeedHandlers | null = null;
  private timer: ReturnType<typeof setInterval> | null = null;
  private readonly states = new Map<string, SymbolState>();
  private readonly quotes = new Set<string>();
  private depthSymbol: string | null = null;
  /** Symbols whose one-minute bars are wanted, and each one's open bar. */
  private readonly barSymbols = new Set<string>();
  private readonly openBars = new Map<string, Bar>();
  private readonly finals: Bar[] = [];
  private lastBarsAt = 0;
  private carry = 0;
  private lastBatchAt: number | null = null;
  private readonly random: () => number;
  private readonly now: () => number;

  constructor(private readonly options: SyntheticFeedOptions) {
    this.random = options.random ?? Math.random;
    this.now = options.now ?? Date.now;
  }

  start(handlers: FeedHandlers): void {
    this.handlers = handlers;
    handlers.connection("connected");
    handlers.status({ upstream: "up", ts: this.now() });
    const intervalMs = 1000 / this.options.batchesPerSecond;
    this.timer = setInterval(() => this.emitBatch(), intervalMs);
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    this.handlers?.connection("offline");
    this.handlers = null;
  }

  async addQuotes(symbols: readonly string[]): Promise<SubscribeAck> {
    for (const s of symbols) this.quotes.add(s);
    const snapshot = symbols.map((s) => this.nextTick(s));
    if (snapshot.length > 0) this.handlers?.ticks(snapshot, true);
    return { ok: true, subscribed: [...symbols], rejected: [] };
  }

  removeQuotes(symbols: readonly string[]): void {
    for (const s of symbols) this.quotes.delete(s);
  }

  setQuotes(symbols: readonly string[]): void {
    this.quotes.clear();
    void this.addQuotes(symbols);
  }

  setDepth(symbol: string | null): void {
    this.depthSymbol = symbol;
  }

  /** Bars as the gateway serves them: a snapshot of the day so far, then the open bar about once a second. */
  setBars(symbols: readonly string[]): void {
    const fresh = symbols.filter((s) => !this.barSymbols.has(s));
    this.barSymbols.clear();
    for (const s of symbols) this.barSymbols.add(s);
    const snapshot = fresh.flatMap((s) => this.history(s, SNAPSHOT_BARS));
    if (snapshot.length > 0) this.handlers?.bars?.(snapshot, true);
  }

  async refreshAuth(): Promise<boolean> {
    return true;
  }

  reconnect(): void {}

  private emitBatch(): void {
    const handlers = this.handlers;
    if (handlers === null || this.quotes.size === 0) return;
    // rate × symbols updates a second, by the time since the last batch (not per timer call:
    // a busy page fires the timer late and less often, and a socket would have queued the
    // ticks meanwhile), the fraction carried over; at most a second's worth at once.
    const now = this.now();
    const elapsedMs = Math.min(1000, Math.max(0, now - (this.lastBatchAt ?? now - 1000 / this.options.batchesPerSecond)));
    this.lastBatchAt = now;
    const perBatch = (this.quotes.size * this.options.ratePerSymbol * elapsedMs) / 1000 + this.carry;
    const count = Math.floor(perBatch);
    this.carry = perBatch - count;
    const symbols = [...this.quotes];
    const ticks: Tick[] = [];
    for (let i = 0; i < count; i++) {
      const symbol = symbols[Math.floor(this.random() * symbols.length)]!;
      ticks.push(this.nextTick(symbol));
    }
    if (ticks.length > 0) handlers.ticks(ticks, false);
    if (now - this.lastBarsAt >= 1000 && this.barSymbols.size > 0) {
      this.lastBarsAt = now;
      const bars = [...this.finals.splice(0), ...[...this.barSymbols].flatMap((s) => this.openBars.get(s) ?? [])];
      if (bars.length > 0) handlers.bars?.(bars, false);
    }
    if (this.depthSymbol !== null && this.random() < 0.5) handlers.depth([this.depthOf(this.depthSymbol)]);
  }

  private stateOf(symbol: string): SymbolState {
    let state = this.states.get(symbol);
    if (state === undefined) {
      const base = isIndexSymbol(symbol) ? 20_000 + this.random() * 40_000 : 100 + this.random() * 4_000;
      state = { seq: 0, ltp: base, open: base, high: base, low: base, prevClose: base * (0.98 + this.random() * 0.04), volume: 0 };
      this.states.set(symbol, state);
    }
    return state;
  }

  private nextTick(symbol: string): Tick {
    const s = this.stateOf(symbol);
    s.seq += 1;
    s.ltp = Math.max(0.05, Math.round(s.ltp * (1 + (this.random() - 0.5) * 0.002) * 20) / 20);
    s.high = Math.max(s.high, s.ltp);
    s.low = Math.min(s.low, s.ltp);
    const index = isIndexSymbol(symbol);
    const ltq = index ? null : 1 + Math.floor(this.random() * 500);
    if (ltq !== null) s.volume += ltq;
    const now = this.now();
    if (this.barSymbols.has(symbol)) this.foldIntoBar(symbol, s, ltq ?? 0, now);
    const change = s.ltp - s.prevClose;
    return {
      v: 1,
      symbol,
      kind: index ? "index" : "quote",
      seq: s.seq,
      ltp: s.ltp,
      open: s.open,
      high: s.high,
      low: s.low,
      prev_close: s.prevClose,
      change,
      change_pct: (change / s.prevClose) * 100,
      volume: index ? null : s.volume,
      ltq,
      avg_price: index ? null : (s.high + s.low) / 2,
      bid: index ? null : s.ltp - 0.05,
      ask: index ? null : s.ltp + 0.05,
      bid_qty: index ? null : 100,
      ask_qty: index ? null : 120,
      tot_buy_qty: index ? null : 10_000,
      tot_sell_qty: index ? null : 12_000,
      ltt: now,
      exch_ts: now,
      ingest_ts: now,
    };
  }

  private foldIntoBar(symbol: string, s: SymbolState, qty: number, now: number): void {
    const start = now - (now % MINUTE_MS);
    const held = this.openBars.get(symbol);
    if (held !== undefined && held.start === start) {
      held.high = Math.max(held.high, s.ltp);
      held.low = Math.min(held.low, s.ltp);
      held.close = s.ltp;
      if (held.volume !== null) held.volume += qty;
      held.ticks += 1;
      held.seq = s.seq;
      // A fresh object each change: the page keeps bars by identity.
      this.openBars.set(symbol, { ...held });
      return;
    }
    if (held !== undefined) this.finals.push({ ...held, final: true });
    const volume = isIndexSymbol(symbol) ? null : qty;
    this.openBars.set(symbol, { v: 1, symbol, tf: "1m", start, open: s.ltp, high: s.ltp, low: s.ltp, close: s.ltp, volume, ticks: 1, final: false, seq: s.seq });
  }

  /** `count` final bars before the current minute: a random walk ending at the symbol's price. */
  private history(symbol: string, count: number): Bar[] {
    const s = this.stateOf(symbol);
    const now = this.now();
    const current = now - (now % MINUTE_MS);
    const bars: Bar[] = [];
    let close = s.ltp;
    for (let i = 1; i <= count; i++) {
      const open = close * (1 + (this.random() - 0.5) * 0.004);
      const high = Math.max(open, close) * (1 + this.random() * 0.001);
      const low = Math.min(open, close) * (1 - this.random() * 0.001);
      const volume = isIndexSymbol(symbol) ? null : Math.floor(this.random() * 50_000);
      bars.push({ v: 1, symbol, tf: "1m", start: current - i * MINUTE_MS, open, high, low, close, volume, ticks: 50, final: true, seq: 0 });
      close = open;
    }
    return bars.reverse();
  }

  private depthOf(symbol: string): Depth {
    const s = this.stateOf(symbol);
    const level = (side: -1 | 1, i: number): DepthLevel => [
      Math.round((s.ltp + side * 0.05 * (i + 1)) * 100) / 100,
      1 + Math.floor(this.random() * 1000),
      1 + Math.floor(this.random() * 20),
    ];
    return {
      v: 1,
      symbol,
      seq: s.seq,
      bids: [0, 1, 2, 3, 4].map((i) => level(-1, i)),
      asks: [0, 1, 2, 3, 4].map((i) => level(1, i)),
      ingest_ts: this.now(),
    };
  }
}

/** 52 known symbols are not enough for the benchmark; pad with made-up ones to `count`. */
export function benchSymbols(known: readonly string[], count: number): string[] {
  const symbols = known.slice(0, count);
  for (let i = symbols.length; i < count; i++) symbols.push(`NSE:SYN${String(i).padStart(3, "0")}-EQ`);
  return symbols;
}
