import { describe, expect, it } from "vitest";
import { byeText, rejectionText } from "./messages";

describe("messages", () => {
  it("says in plain words that a symbol is not listed", () => {
    const text = rejectionText({ symbol: "NSE:NOSUCHTHING-EQ", code: "invalid_symbol", message: "unknown to the upstream" }, "quote");
    expect(text).toBe("NOSUCHTHING isn't a listed NSE/BSE symbol");
  });

  it("names limits and the mode without wire codes", () => {
    const limit = rejectionText({ symbol: "NSE:SBIN-EQ", code: "too_many_subscriptions", message: "" }, "quote");
    expect(limit).toBe("SBIN can't be added: the watchlist is at its limit");
    const depth = rejectionText({ symbol: "NSE:SBIN-EQ", code: "rate_limited", message: "" }, "depth");
    expect(depth).toMatch(/^Depth for SBIN can't be added right now/);
    const other = rejectionText({ symbol: "NSE:SBIN-EQ", code: "internal", message: "boom" }, "bars");
    expect(other).toBe("The chart of SBIN can't be shown right now");
    for (const text of [limit, depth, other]) expect(text).not.toMatch(/_/);
  });

  it("explains only the goodbyes the user notices", () => {
    expect(byeText("slow_consumer")).toMatch(/reconnecting/);
    expect(byeText("server_shutdown")).toBeNull();
  });
});
