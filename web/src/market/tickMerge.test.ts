import { describe, expect, it } from "vitest";
import { makeDepth, makeTick } from "../test/ticks";
import { mergeDepth, mergeTicks } from "./tickMerge";
import type { QuoteRow } from "./types";

describe("mergeTicks", () => {
  it("adds new symbols and keeps the newer seq", () => {
    const first = mergeTicks(new Map(), [makeTick("NSE:SBIN-EQ", 5, { ltp: 800 })], 1000);
    const second = mergeTicks(first, [makeTick("NSE:SBIN-EQ", 6, { ltp: 801 })], 2000);
    const row = second.get("NSE:SBIN-EQ")!;
    expect(row.tick.seq).toBe(6);
    expect(row.tick.ltp).toBe(801);
    expect(row.prevLtp).toBe(800);
    expect(row.receivedAt).toBe(2000);
  });

  it("ignores a tick that is not newer, and returns the same map when nothing changed", () => {
    const rows = mergeTicks(new Map(), [makeTick("NSE:SBIN-EQ", 10)], 1000);
    expect(mergeTicks(rows, [makeTick("NSE:SBIN-EQ", 10, { ltp: 1 })], 2000)).toBe(rows);
    expect(mergeTicks(rows, [makeTick("NSE:SBIN-EQ", 3, { ltp: 1 })], 2000)).toBe(rows);
    expect(rows.get("NSE:SBIN-EQ")!.receivedAt).toBe(1000);
  });

  it("keeps untouched rows as the same objects (memoized rows skip rendering)", () => {
    const rows = mergeTicks(new Map(), [makeTick("A", 1), makeTick("B", 1)], 1000);
    const next = mergeTicks(rows, [makeTick("A", 2)], 2000);
    expect(next).not.toBe(rows);
    expect(next.get("B")).toBe(rows.get("B"));
    expect(next.get("A")).not.toBe(rows.get("A"));
  });

  it("handles a seq jump (conflation) and out-of-order ticks within one batch", () => {
    const rows = mergeTicks(new Map<string, QuoteRow>(), [makeTick("A", 1)], 0);
    const next = mergeTicks(rows, [makeTick("A", 9, { ltp: 9 }), makeTick("A", 4, { ltp: 4 })], 1);
    expect(next.get("A")!.tick.seq).toBe(9);
    expect(next.get("A")!.tick.ltp).toBe(9);
  });
});

describe("mergeDepth", () => {
  it("keeps only the selected symbol's newest depth", () => {
    const a5 = makeDepth("A", 5);
    expect(mergeDepth(null, [makeDepth("B", 9), a5], "A")).toBe(a5);
    expect(mergeDepth(a5, [makeDepth("A", 4)], "A")).toBe(a5);
    expect(mergeDepth(a5, [makeDepth("A", 6)], "A")!.seq).toBe(6);
  });

  it("drops depth held for another symbol after the selection changed", () => {
    expect(mergeDepth(makeDepth("A", 5), [], "B")).toBeNull();
  });
});
