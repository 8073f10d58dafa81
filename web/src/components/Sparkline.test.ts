import { describe, expect, it } from "vitest";
import { makeBar } from "../test/ticks";
import { sparkPoints } from "./Sparkline";

describe("sparkPoints", () => {
  it("scales the day's closes into the box, highest at the top, 1 px inset", () => {
    const bars = [
      makeBar("NSE:SBIN-EQ", 0, { low: 90, high: 110, close: 100 }),
      makeBar("NSE:SBIN-EQ", 1, { low: 95, high: 105, close: 110 }),
      makeBar("NSE:SBIN-EQ", 2, { low: 90, high: 100, close: 90 }),
    ];
    expect(sparkPoints(bars, 42, 22)).toBe("1.0,11.0 21.0,1.0 41.0,21.0");
  });

  it("draws nothing from fewer than two bars, and a flat line for a flat day", () => {
    expect(sparkPoints([makeBar("NSE:SBIN-EQ", 0)], 40, 20)).toBeNull();
    const flat = [0, 1].map((m) => makeBar("NSE:SBIN-EQ", m, { open: 5, high: 5, low: 5, close: 5 }));
    expect(sparkPoints(flat, 40, 20)).toBe("1.0,1.0 39.0,1.0");
  });
});
