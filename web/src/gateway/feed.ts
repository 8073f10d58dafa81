import type { Bar, Bye, Depth, Rejection, SubscribeAck, SubscriptionMode, Tick, UpstreamStatus } from "../market/types";

/** Where the page stands with the gateway. */
export type ConnectionState = "connecting" | "connected" | "reconnecting" | "offline";

/** Why the feed needs a fresh access token before it can go on. */
export type AuthProblem = "unauthorized" | "token_expired" | "session_revoked";

export interface FeedHandlers {
  /** Quotes; `snapshot` marks the latest known values sent after a subscribe (possibly old). */
  ticks(ticks: Tick[], snapshot: boolean): void;
  depth(depth: Depth[]): void;
  /** One-minute bars (v1.1); `snapshot` marks a subscription's bars of the day, oldest first. */
  bars?(bars: Bar[], snapshot: boolean): void;
  status(status: UpstreamStatus): void;
  connection(state: ConnectionState): void;
  /** When the feed will next try to connect (epoch ms), or null once it is trying (or connected). */
  retryAt?(at: number | null): void;
  /** Symbols the gateway refused on a (re)subscribe; they are no longer wanted by the feed. */
  rejected(rejections: Rejection[], mode: SubscriptionMode): void;
  /** The token expires at `exp` (epoch s): renew now. */
  expiring(exp: number): void;
  /** The gateway refused the token or ended the session; get a new one, then `reconnect()`. */
  authProblem(problem: AuthProblem): void;
  /** The server said goodbye (any code), for display. */
  bye(bye: Bye): void;
}

/**
 * A live source of market data for the board: the gateway socket, or the synthetic feed of
 * the benchmark. Both push through the same handlers.
 *
 * Contract: the feed remembers what is wanted (quote symbols, one depth symbol) and
 * re-establishes all of it on every (re)connect; callers only say what they want.
 */
export interface MarketFeed {
  start(handlers: FeedHandlers): void;
  stop(): void;
  /**
   * Want quotes of `symbols` too. Resolves with the gateway's ack, or null when not
   * connected (the subscription is then sent on connect and refusals come via `rejected`).
   */
  addQuotes(symbols: readonly string[]): Promise<SubscribeAck | null>;
  removeQuotes(symbols: readonly string[]): void;
  /** Replace the whole set of wanted quote symbols. */
  setQuotes(symbols: readonly string[]): void;
  /** The symbol the user looks at (full rate where the feed throttles the rest); optional. */
  setFocus?(symbol: string | null): void;
  /** Depth for one symbol at a time; null for none. */
  setDepth(symbol: string | null): void;
  /** Bars (one-minute, day so far, then live) for these symbols; replaces the previous set. */
  setBars?(symbols: readonly string[]): void;
  /** Hand a renewed token to the live connection (`auth:refresh`). */
  refreshAuth(token: string): Promise<boolean>;
  /** Connect again with the current token (after an auth problem was solved). */
  reconnect(): void;
}
