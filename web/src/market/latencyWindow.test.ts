import { describe, expect, it } from "vitest";
import { LatencyWindow } from "./latencyWindow";

describe("LatencyWindow", () => {
  it("has no median without samples", () => {
    expect(new LatencyWindow().median()).toBeNull();
  });

  it("takes the median of odd and even counts", () => {
    const w = new LatencyWindow();
    [5, 1, 3].forEach((v) => w.add(v));
    expect(w.median()).toBe(3);
    w.add(10);
    expect(w.median()).toBe(4);
  });

  it("keeps only the most recent samples and skips non-finite ones", () => {
    const w = new LatencyWindow(3);
    [100, 100, 100, 1, 2, 3, Number.NaN].forEach((v) => w.add(v));
    expect(w.median()).toBe(2);
  });
});
