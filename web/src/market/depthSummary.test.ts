import { describe, expect, it } from "vitest";
import { makeDepth, makeTick } from "../test/ticks";
import { depthView } from "./depthSummary";

describe("depthView", () => {
  it("totals five levels each side and gives the spread", () => {
    const view = depthView(makeDepth("NSE:SBIN-EQ", 1), undefined)!;
    expect(view.bids).toHaveLength(5);
    expect(view.bidTotal).toBe(10 + 20 + 30 + 40 + 50);
    expect(view.askTotal).toBe(11 + 22 + 33 + 44 + 55);
    expect(view.spread).toBeCloseTo(0.1, 10);
    expect(view.spreadPct).toBeCloseTo(0.1, 10);
    expect(view.topOnly).toBe(false);
  });

  it("fills from the quote's best bid and ask before depth arrives", () => {
    const view = depthView(null, makeTick("NSE:SBIN-EQ", 1))!;
    expect(view.bids).toEqual([[99.95, 10, 0]]);
    expect(view.asks).toEqual([[100.05, 12, 0]]);
    expect(view.spread).toBeCloseTo(0.1, 10);
    expect(view.topOnly).toBe(true);
  });

  it("has nothing to show for an index or an unknown quote", () => {
    expect(depthView(null, makeTick("NSE:NIFTY50-INDEX", 1))).toBeNull();
    expect(depthView(null, undefined)).toBeNull();
  });
});
