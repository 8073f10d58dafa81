import { describe, expect, it } from "vitest";
import { makeBar } from "../test/ticks";
import { chartTime, IST_OFFSET_S, toCandle, toVolume, updateFrom } from "./series";

const SBIN = "NSE:SBIN-EQ";

describe("chart series", () => {
  it("turns a bar into a candle and a coloured volume column at its minute, read as IST", () => {
    const bar = makeBar(SBIN, 0, { open: 100, close: 99, volume: 700 });
    expect(chartTime(bar)).toBe(bar.start / 1000 + IST_OFFSET_S);
    expect(toCandle(bar)).toEqual({ time: chartTime(bar), open: 100, high: 101, low: 99, close: 99 });
    expect(toVolume(bar, "up", "down")).toEqual({ time: chartTime(bar), value: 700, color: "down" });
    expect(toVolume(makeBar("NSE:NIFTY50-INDEX", 0), "up", "down")).toEqual({ time: chartTime(bar) });
  });

  it("updates in place when only the open bar changed or bars were appended", () => {
    const a = makeBar(SBIN, 0, { final: true });
    const b = makeBar(SBIN, 1);
    const b2 = makeBar(SBIN, 1, { seq: 30, final: true });
    const c = makeBar(SBIN, 2);
    expect(updateFrom([a, b], [a, b2])).toBe(1);
    expect(updateFrom([a, b], [a, b2, c])).toBe(1);
    expect(updateFrom([a, b], [a, b, c])).toBe(2);
    expect(updateFrom([a, b], [a, b])).toBe(2); // nothing to do
  });

  it("sets the series afresh for another symbol or a refill that changed older bars", () => {
    const a = makeBar(SBIN, 0);
    const b = makeBar(SBIN, 1);
    const c = makeBar(SBIN, 2);
    expect(updateFrom([], [a])).toBeNull();
    expect(updateFrom([a, c], [a, b, c])).toBeNull(); // a minute inserted before the last
    expect(updateFrom([a, b], [makeBar("NSE:TCS-EQ", 0), b])).toBeNull();
    expect(updateFrom([a, b, c], [a, b])).toBeNull();
  });
});
