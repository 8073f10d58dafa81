import { describe, expect, it } from "vitest";
import { makeTick } from "../test/ticks";
import { staleSymbols } from "./staleness";
import { mergeTicks } from "./tickMerge";

describe("staleSymbols", () => {
  const rows = mergeTicks(mergeTicks(new Map(), [makeTick("OLD", 1)], 0), [makeTick("NEW", 1)], 9_000);

  it("marks symbols with no update for longer than the limit", () => {
    expect([...staleSymbols(rows, 10_001, 10_000, new Set())]).toEqual(["OLD"]);
    expect(staleSymbols(rows, 10_000, 10_000, new Set()).size).toBe(0);
  });

  it("returns the previous set when nothing flipped", () => {
    const previous = new Set(["OLD"]);
    expect(staleSymbols(rows, 12_000, 10_000, previous)).toBe(previous);
    expect(staleSymbols(rows, 30_000, 10_000, previous)).not.toBe(previous);
  });
});
