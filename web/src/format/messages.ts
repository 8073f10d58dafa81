import type { Rejection, SubscriptionMode } from "../market/types";
import { displayName } from "../market/universe";

/**
 * What the user reads when the gateway refuses a symbol: plain words, one sentence, the
 * symbol by its short name ("NOSUCHTHING isn't a listed NSE/BSE symbol"), never the wire code.
 */
export function rejectionText(rejection: Rejection, mode: SubscriptionMode): string {
  const name = displayName(rejection.symbol);
  const what = mode === "depth" ? `Depth for ${name}` : mode === "bars" ? `The chart of ${name}` : name;
  switch (rejection.code) {
    case "invalid_symbol":
      return `${name} isn't a listed NSE/BSE symbol`;
    case "too_many_subscriptions":
      return `${what} can't be added: the watchlist is at its limit`;
    case "rate_limited":
      return `${what} can't be added right now: too many new symbols this minute, try again shortly`;
    case "unauthorized":
    case "forbidden":
      return `${what} can't be shown: the session needs renewing, try again`;
    default:
      return `${what} can't be shown right now`;
  }
}

/** Why the gateway closed the connection, for a notice (only the ones the user can act on or wait out). */
export function byeText(code: string): string | null {
  if (code === "slow_consumer") return "The connection fell behind the market; reconnecting…";
  if (code === "rate_limited") return "Too many requests in a short time; reconnecting shortly…";
  return null;
}
