import { describe, expect, it } from "vitest";
import type { QuoteRow } from "../market/types";
import { refreshPhase, rowsToShow, rowToShow, sameRange, visibleRows, type ShownRow } from "./rowWindow";

const row = (ltp: number) => ({ tick: { ltp }, prevLtp: null, receivedAt: 0 }) as unknown as QuoteRow;

describe("visibleRows", () => {
  it("gives the rows in the visible band plus overscan, clamped to the list", () => {
    // Rows of 26 px from y = 100; the band 100..360 shows rows 0..10.
    expect(visibleRows(100, 360, 100, 26, 200, 0)).toEqual([0, 10]);
    expect(visibleRows(100, 360, 100, 26, 200, 6)).toEqual([0, 16]);
    // Scrolled by 26 * 50 px: the first row in view is row 50.
    expect(visibleRows(100, 360, 100 - 26 * 50, 26, 200, 2)).toEqual([48, 62]);
    expect(visibleRows(100, 360, 100 - 26 * 195, 26, 200, 6)).toEqual([189, 199]);
  });

  it("is unknown without layout", () => {
    expect(visibleRows(0, 0, 0, 26, 200)).toBeNull();
    expect(visibleRows(10, 300, 0, 0, 200)).toBeNull();
  });

  it("compares ranges by value", () => {
    expect(sameRange([1, 2], [1, 2])).toBe(true);
    expect(sameRange([1, 2], [1, 3])).toBe(false);
    expect(sameRange(null, null)).toBe(true);
    expect(sameRange(null, [0, 1])).toBe(false);
  });
});

describe("rowToShow", () => {
  const a = row(1);
  const b = row(2);
  const c = row(3);

  it("follows every change of a row in view", () => {
    const first = rowToShow(undefined, a, true, 0);
    expect(first.row).toBe(a);
    expect(rowToShow(first, b, true, 10).row).toBe(b);
  });

  it("gives a row out of view its first value at once, then one change per refresh slot", () => {
    const first = rowToShow(undefined, a, false, 100, 0, 1000);
    expect(first.row).toBe(a);
    const held = rowToShow(first, b, false, 900, 0, 1000);
    expect(held).toBe(first);
    const next = rowToShow(held, c, false, 1000, 0, 1000);
    expect(next.row).toBe(c);
    // Scrolled into view: the newest at once.
    expect(rowToShow(rowToShow(next, a, false, 1500, 0, 1000), b, true, 1500, 0, 1000).row).toBe(b);
  });

  it("shifts the slots by the symbol's phase", () => {
    const first = rowToShow(undefined, a, false, 100, 300, 1000);
    expect(rowToShow(first, b, false, 699, 300, 1000).row).toBe(a);
    expect(rowToShow(first, b, false, 700, 300, 1000).row).toBe(b);
  });

  it("spreads phases over the refresh period", () => {
    const phases = new Set(["NSE:SBIN-EQ", "NSE:TCS-EQ", "NSE:INFY-EQ", "NSE:RELIANCE-EQ"].map((s) => refreshPhase(s, 1000)));
    expect(phases.size).toBeGreaterThan(1);
    for (const p of phases) expect(p >= 0 && p < 1000).toBe(true);
  });
});

describe("rowsToShow", () => {
  it("holds back rows whose last position was out of view, lets the others through", () => {
    const symbols = ["A", "B", "C"];
    const shown = new Map<string, ShownRow>();
    const first = rowsToShow(symbols, new Map([["A", row(1)], ["B", row(1)], ["C", row(1)]]), shown, new Map(), [0, 0], 0);
    expect(first.holding).toBe(false);
    // A was at position 0 (in view), B at 1 and C at 2 (out of view); C newly filtered in has no position.
    const newest = new Map([["A", row(2)], ["B", row(2)], ["C", row(2)]]);
    const next = rowsToShow(symbols, newest, shown, new Map([["A", 0], ["B", 1]]), [0, 0], 10);
    expect(next.rows.get("A")).toBe(newest.get("A"));
    expect(next.rows.get("B")).toBe(first.rows.get("B"));
    expect(next.rows.get("C")).toBe(newest.get("C"));
    expect(next.holding).toBe(true);
    // Without layout every row is in view.
    expect(rowsToShow(symbols, newest, shown, new Map([["B", 1]]), null, 20).rows.get("B")).toBe(newest.get("B"));
  });
});
