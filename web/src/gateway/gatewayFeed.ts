import { io, type Socket, type ManagerOptions, type SocketOptions } from "socket.io-client";
import type { Bar, Bye, Depth, Rejection, SubscribeAck, SubscriptionMode, Tick, UpstreamStatus } from "../market/types";
import { CompactDecoder } from "./compact";
import type { FeedHandlers, MarketFeed } from "./feed";

/** How long an ack may take before the call counts as lost (ms). */
export const ACK_TIMEOUT_MS = 5_000;
/** Backoff for reconnects the client must start itself (after a server-side disconnect). */
export const RECONNECT_MIN_MS = 500;
export const RECONNECT_MAX_MS = 10_000;
/** Updates per second per symbol for the board (`max_hz`, CONTRACT §3 v1.1); the focused symbol gets every tick. */
export const BOARD_MAX_HZ = 4;

/** Tick encodings (CONTRACT §3 v1.1): JSON Tick v1, or compact rows (./compact.ts). */
export type TickFormat = "json" | "compact";

/** A tick as received: a Tick v1 object (JSON) or a compact row. */
type WireTick = Tick | unknown[];

/** Where the page may keep a tick encoding choice (`"json"` forces JSON Tick v1). */
export const FORMAT_STORAGE_KEY = "livews.format";

/** The page's choice: `?format=json` or localStorage `livews.format` = json → JSON Tick v1; compact otherwise. */
export function formatFromPage(): TickFormat {
  if (typeof location === "undefined") return "compact";
  if (new URLSearchParams(location.search).get("format") === "json") return "json";
  try {
    return globalThis.localStorage?.getItem(FORMAT_STORAGE_KEY) === "json" ? "json" : "compact";
  } catch {
    return "compact"; // storage blocked
  }
}

interface ServerEvents {
  ticks: (ticks: WireTick[]) => void;
  depth: (depth: Depth[]) => void;
  snapshot: (snapshot: { ticks?: WireTick[]; depth?: Depth[]; bars?: Bar[] }) => void;
  bars: (bars: Bar[]) => void;
  status: (status: UpstreamStatus) => void;
  "auth:expiring": (payload: { exp: number }) => void;
  bye: (bye: Bye) => void;
}

interface ClientEvents {
  subscribe: (payload: { symbols: string[]; mode: SubscriptionMode; max_hz?: number }, ack: (ack: SubscribeAck) => void) => void;
  unsubscribe: (payload: { symbols: string[]; mode: SubscriptionMode }, ack: (ack: unknown) => void) => void;
  "auth:refresh": (payload: { token: string }, ack: (ack: { ok: boolean; exp?: number }) => void) => void;
}

type GatewaySocket = Socket<ServerEvents, ClientEvents>;

export interface GatewayFeedOptions {
  /** The token to connect with; read at every connection attempt. */
  token: () => string | null;
  /** Defaults to the page's origin. */
  url?: string;
  /** Tick encoding to ask for; defaults to {@link formatFromPage}. */
  format?: TickFormat;
  /** Test seam: builds the socket. */
  connect?: (url: string | undefined, options: Partial<ManagerOptions & SocketOptions>) => GatewaySocket;
}

/** Jittered exponential backoff: attempt 0 → ~0.5 s, doubling up to 10 s. */
export function backoffMs(attempt: number, random: () => number = Math.random): number {
  const base = Math.min(RECONNECT_MAX_MS, RECONNECT_MIN_MS * 2 ** Math.max(0, attempt));
  return Math.round(base * (0.5 + random() * 0.5));
}

/**
 * The gateway's Socket.IO connection (CONTRACT.md §3) as a {@link MarketFeed}.
 *
 * Ownership: it owns its socket and timers; `stop()` closes both. It never fetches tokens:
 * on an auth problem it tells its owner, who renews and calls `reconnect()`.
 */
export class GatewayFeed implements MarketFeed {
  private socket: GatewaySocket | null = null;
  private handlers: FeedHandlers | null = null;
  private readonly quotes = new Set<string>();
  private depthSymbol: string | null = null;
  private readonly barSymbols = new Set<string>();
  private focus: string | null = null;
  /** Compact rows of the current connection decode against what it sent before. */
  private readonly decoder = new CompactDecoder();
  private lastBye: Bye | null = null;
  private retryTimer: ReturnType<typeof setTimeout> | null = null;
  private retryAttempt = 0;

  constructor(private readonly options: GatewayFeedOptions) {}

  start(handlers: FeedHandlers): void {
    if (this.socket !== null) return;
    this.handlers = handlers;
    const build = this.options.connect ?? ((url, opts) => (url === undefined ? io(opts) : io(url, opts)));
    const socket = build(this.options.url, {
      path: "/socket.io",
      transports: ["websocket"],
      autoConnect: false,
      // The feed schedules every reconnect itself (same jittered backoff as Socket.IO's), so
      // it knows when the next attempt is and the page can say "retrying in N s".
      reconnection: false,
      auth: (cb) => {
        // Every connection starts from key rows.
        this.decoder.reset();
        cb({ token: this.options.token() ?? "", format: this.options.format ?? formatFromPage() });
      },
    });
    this.socket = socket;
    this.wire(socket, handlers);
    handlers.connection("connecting");
    socket.connect();
  }

  stop(): void {
    this.clearRetry();
    const socket = this.socket;
    this.socket = null;
    if (socket !== null) {
      socket.removeAllListeners();
      socket.io.removeAllListeners();
      socket.disconnect();
    }
    this.handlers?.connection("offline");
    this.handlers = null;
  }

  async addQuotes(symbols: readonly string[]): Promise<SubscribeAck | null> {
    const fresh = symbols.filter((s) => !this.quotes.has(s));
    for (const s of fresh) this.quotes.add(s);
    if (fresh.length === 0 || !this.socket?.connected) return null;
    if (this.focus !== null && fresh.includes(this.focus)) {
      const board = fresh.filter((s) => s !== this.focus);
      const [focusAck, boardAck] = await Promise.all([
        this.subscribe([this.focus], "quote"),
        board.length > 0 ? this.subscribe(board, "quote", BOARD_MAX_HZ) : Promise.resolve(null),
      ]);
      return mergeAcks(focusAck, boardAck);
    }
    return this.subscribe(fresh, "quote", BOARD_MAX_HZ);
  }

  removeQuotes(symbols: readonly string[]): void {
    const gone = symbols.filter((s) => this.quotes.delete(s));
    if (gone.length > 0) this.unsubscribe(gone, "quote");
  }

  setQuotes(symbols: readonly string[]): void {
    const wanted = new Set(symbols);
    this.removeQuotes([...this.quotes].filter((s) => !wanted.has(s)));
    void this.addQuotes(symbols);
  }

  setBars(symbols: readonly string[]): void {
    const wanted = new Set(symbols);
    const gone = [...this.barSymbols].filter((s) => !wanted.has(s));
    const fresh = symbols.filter((s) => !this.barSymbols.has(s));
    for (const s of gone) this.barSymbols.delete(s);
    for (const s of fresh) this.barSymbols.add(s);
    if (gone.length > 0) this.unsubscribe(gone, "bars");
    if (fresh.length > 0 && this.socket?.connected) void this.subscribe(fresh, "bars");
  }

  setDepth(symbol: string | null): void {
    if (symbol === this.depthSymbol) return;
    const previous = this.depthSymbol;
    this.depthSymbol = symbol;
    if (previous !== null) this.unsubscribe([previous], "depth");
    if (symbol !== null && this.socket?.connected) void this.subscribe([symbol], "depth");
  }

  /**
   * The symbol the user looks at: its quotes come at full rate, the rest of the board at
   * {@link BOARD_MAX_HZ}. A subscribe of an already held symbol only changes its rate.
   */
  setFocus(symbol: string | null): void {
    if (symbol === this.focus) return;
    const previous = this.focus;
    this.focus = symbol;
    if (!this.socket?.connected) return;
    if (previous !== null && this.quotes.has(previous)) void this.subscribe([previous], "quote", BOARD_MAX_HZ);
    if (symbol !== null && this.quotes.has(symbol)) void this.subscribe([symbol], "quote");
  }

  async refreshAuth(token: string): Promise<boolean> {
    const socket = this.socket;
    if (socket === null) return false;
    if (!socket.connected) {
      // Waiting for this token (refused, or ended by the server)? Connect with it now.
      // A connection already on its way picks the token up by itself.
      if (!socket.active) this.reconnect();
      return false;
    }
    try {
      const ack = await socket.timeout(ACK_TIMEOUT_MS).emitWithAck("auth:refresh", { token });
      if (ack.ok) return true;
    } catch {
      // lost ack: fall through to a fresh connection, which carries the new token
    }
    this.reconnect();
    return false;
  }

  reconnect(): void {
    const socket = this.socket;
    if (socket === null) return;
    this.clearRetry();
    this.handlers?.connection("reconnecting");
    if (socket.connected) socket.disconnect();
    socket.connect();
  }

  private wire(socket: GatewaySocket, handlers: FeedHandlers): void {
    socket.on("connect", () => {
      this.retryAttempt = 0;
      this.lastBye = null;
      handlers.connection("connected");
      this.resubscribe();
    });
    socket.on("disconnect", (reason) => {
      if (reason === "io client disconnect") return;
      handlers.connection("reconnecting");
      // When the server ended the connection, `bye` said why and decides what comes next;
      // after a transport loss (gateway killed, network gone) the feed simply comes back.
      if (reason === "io server disconnect") this.afterServerDisconnect();
      else this.scheduleRetry();
    });
    socket.on("connect_error", (err: Error & { data?: { code?: string } }) => {
      if (err.data?.code === "unauthorized") {
        handlers.connection("reconnecting");
        handlers.authProblem("unauthorized");
        return;
      }
      handlers.connection("reconnecting");
      if (!socket.active) this.scheduleRetry();
    });
    socket.on("bye", (bye) => {
      this.lastBye = bye;
      handlers.bye(bye);
    });
    socket.on("snapshot", (snapshot) => {
      if (Array.isArray(snapshot.ticks) && snapshot.ticks.length > 0) {
        const ticks = this.decode(snapshot.ticks);
        if (ticks !== null) handlers.ticks(ticks, true);
      }
      if (Array.isArray(snapshot.depth) && snapshot.depth.length > 0) handlers.depth(snapshot.depth);
      if (Array.isArray(snapshot.bars)) handlers.bars?.(snapshot.bars, true);
    });
    socket.on("bars", (bars) => {
      if (Array.isArray(bars)) handlers.bars?.(bars, false);
    });
    socket.on("ticks", (items) => {
      const ticks = Array.isArray(items) ? this.decode(items) : null;
      if (ticks !== null) handlers.ticks(ticks, false);
    });
    socket.on("depth", (depth) => {
      if (Array.isArray(depth)) handlers.depth(depth);
    });
    socket.on("status", (status) => handlers.status(status));
    socket.on("auth:expiring", (payload) => handlers.expiring(payload.exp));
  }

  /** Compact rows to Tick v1 (a Tick object, as a JSON connection gets, passes as is). */
  private decode(items: WireTick[]): Tick[] | null {
    try {
      return items.map((item) => (Array.isArray(item) ? this.decoder.decode(item) : item));
    } catch {
      // Out of step with the server (should not happen): a fresh connection starts over.
      this.reconnect();
      return null;
    }
  }

  private afterServerDisconnect(): void {
    const code = this.lastBye?.code;
    if (code === "token_expired" || code === "session_revoked") {
      this.handlers?.authProblem(code);
      return;
    }
    // server_shutdown, slow_consumer, rate_limited or no bye at all: come back, a little later
    // each time (rate_limited starts further back).
    if (code === "rate_limited") this.retryAttempt = Math.max(this.retryAttempt, 3);
    this.scheduleRetry();
  }

  private scheduleRetry(): void {
    this.clearRetry();
    const delay = backoffMs(this.retryAttempt);
    this.retryAttempt += 1;
    this.handlers?.retryAt?.(Date.now() + delay);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.handlers?.retryAt?.(null);
      this.socket?.connect();
    }, delay);
  }

  private clearRetry(): void {
    if (this.retryTimer !== null) {
      clearTimeout(this.retryTimer);
      this.handlers?.retryAt?.(null);
    }
    this.retryTimer = null;
  }

  private resubscribe(): void {
    const board = [...this.quotes].filter((s) => s !== this.focus);
    if (board.length > 0) void this.subscribe(board, "quote", BOARD_MAX_HZ);
    if (this.focus !== null && this.quotes.has(this.focus)) void this.subscribe([this.focus], "quote");
    if (this.depthSymbol !== null) void this.subscribe([this.depthSymbol], "depth");
    if (this.barSymbols.size > 0) void this.subscribe([...this.barSymbols], "bars");
  }

  private async subscribe(symbols: string[], mode: SubscriptionMode, maxHz?: number): Promise<SubscribeAck | null> {
    const socket = this.socket;
    if (socket === null) return null;
    let ack: SubscribeAck;
    try {
      const payload = maxHz === undefined ? { symbols, mode } : { symbols, mode, max_hz: maxHz };
      ack = await socket.timeout(ACK_TIMEOUT_MS).emitWithAck("subscribe", payload);
    } catch {
      return null; // lost with the connection; the next connect subscribes again
    }
    const rejected: Rejection[] = ack.rejected ?? [];
    if (!ack.ok && rejected.length === 0) {
      rejected.push(...symbols.map((symbol) => ({ symbol, code: ack.code ?? "error", message: ack.message ?? "" })));
    }
    if (rejected.length > 0) {
      for (const r of rejected) {
        if (mode === "quote") this.quotes.delete(r.symbol);
        else if (mode === "bars") this.barSymbols.delete(r.symbol);
        else if (this.depthSymbol === r.symbol) this.depthSymbol = null;
      }
      this.handlers?.rejected(rejected, mode);
    }
    return ack;
  }

  private unsubscribe(symbols: string[], mode: SubscriptionMode): void {
    const socket = this.socket;
    if (socket === null || !socket.connected) return;
    socket.timeout(ACK_TIMEOUT_MS).emit("unsubscribe", { symbols, mode }, () => undefined);
  }
}

/** One ack for a subscribe that went out as two calls (focus and board). */
function mergeAcks(a: SubscribeAck | null, b: SubscribeAck | null): SubscribeAck | null {
  if (a === null) return b;
  if (b === null) return a;
  return {
    ...a,
    ok: a.ok && b.ok,
    subscribed: [...(a.subscribed ?? []), ...(b.subscribed ?? [])],
    rejected: [...(a.rejected ?? []), ...(b.rejected ?? [])],
  };
}
