import { describe, expect, it } from "vitest";
import { makeBar } from "../test/ticks";
import { BarStore, MAX_BARS, mergeBars } from "./barStore";

const SBIN = "NSE:SBIN-EQ";

describe("mergeBars", () => {
  it("appends a new minute and replaces the open bar with a newer version", () => {
    const day = mergeBars([], [makeBar(SBIN, 0, { final: true }), makeBar(SBIN, 1)]);
    expect(day.map((b) => b.start)).toEqual([makeBar(SBIN, 0).start, makeBar(SBIN, 1).start]);
    const updated = mergeBars(day, [makeBar(SBIN, 1, { seq: 25, close: 102 })]);
    expect(updated).toHaveLength(2);
    expect(updated[1]!.close).toBe(102);
    expect(day[1]!.close).toBe(100.5); // the held list is not mutated
  });

  it("lets the final of a minute replace its last open update (same seq) but nothing older", () => {
    const open = mergeBars([], [makeBar(SBIN, 3, { seq: 40 })]);
    const final = mergeBars(open, [makeBar(SBIN, 3, { seq: 40, final: true, close: 99.5 })]);
    expect(final[0]!.final).toBe(true);
    const replay = [makeBar(SBIN, 3, { seq: 40 }), makeBar(SBIN, 3, { seq: 39, close: 1 })];
    expect(mergeBars(final, replay)).toBe(final);
  });

  it("inserts a missing minute in order (a snapshot after live bars) and keeps the day bounded", () => {
    const live = mergeBars([], [makeBar(SBIN, 5)]);
    const merged = mergeBars(live, [makeBar(SBIN, 2, { final: true }), makeBar(SBIN, 4, { final: true })]);
    expect(merged.map((b) => b.start - makeBar(SBIN, 0).start)).toEqual([120_000, 240_000, 300_000]);
    const long = mergeBars([], Array.from({ length: MAX_BARS + 10 }, (_, i) => makeBar(SBIN, i)));
    expect(long).toHaveLength(MAX_BARS);
    expect(long[0]!.start).toBe(makeBar(SBIN, 10).start);
  });
});

describe("BarStore", () => {
  it("tells only the subscribers of the symbols that changed", () => {
    const store = new BarStore();
    const calls: string[] = [];
    store.subscribe(SBIN, () => calls.push("sbin"));
    const off = store.subscribe("NSE:TCS-EQ", () => calls.push("tcs"));
    store.push([makeBar(SBIN, 0), makeBar(SBIN, 1)]);
    expect(calls).toEqual(["sbin"]);
    const held = store.get(SBIN);
    store.push([makeBar(SBIN, 1)]); // not newer: no change, no call
    expect(store.get(SBIN)).toBe(held);
    expect(calls).toEqual(["sbin"]);
    off();
    store.push([makeBar("NSE:TCS-EQ", 0)]);
    expect(calls).toEqual(["sbin"]);
    store.drop(SBIN);
    expect(store.get(SBIN)).toEqual([]);
    expect(calls).toEqual(["sbin", "sbin"]);
  });
});
