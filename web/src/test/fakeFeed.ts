import type { FeedHandlers, MarketFeed } from "../gateway/feed";
import type { SubscribeAck } from "../market/types";

/** A feed the test drives by hand: it records what the page asks for and exposes the handlers. */
export class FakeFeed implements MarketFeed {
  handlers: FeedHandlers | null = null;
  quotes = new Set<string>();
  depth: string | null = null;
  bars: string[] = [];
  refreshed: string[] = [];
  reconnects = 0;
  stopped = false;
  /** Symbols the fake gateway refuses with invalid_symbol. */
  unknown = new Set<string>();

  start(handlers: FeedHandlers): void {
    this.handlers = handlers;
    handlers.connection("connected");
  }
  stop(): void {
    this.stopped = true;
  }
  async addQuotes(symbols: readonly string[]): Promise<SubscribeAck> {
    const rejected = symbols
      .filter((s) => this.unknown.has(s))
      .map((symbol) => ({ symbol, code: "invalid_symbol", message: "unknown symbol" }));
    const subscribed = symbols.filter((s) => !this.unknown.has(s));
    subscribed.forEach((s) => this.quotes.add(s));
    if (rejected.length > 0) this.handlers?.rejected(rejected, "quote");
    return { ok: true, subscribed, rejected };
  }
  removeQuotes(symbols: readonly string[]): void {
    symbols.forEach((s) => this.quotes.delete(s));
  }
  setQuotes(symbols: readonly string[]): void {
    this.quotes = new Set(symbols);
  }
  setBars(symbols: readonly string[]): void {
    this.bars = [...symbols];
  }
  setDepth(symbol: string | null): void {
    this.depth = symbol;
  }
  async refreshAuth(token: string): Promise<boolean> {
    this.refreshed.push(token);
    return true;
  }
  reconnect(): void {
    this.reconnects += 1;
  }
}
