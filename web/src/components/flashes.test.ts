// @vitest-environment jsdom
import { describe, expect, it } from "vitest";
import { Flashes } from "./flashes";

describe("Flashes", () => {
  it("sets the flash class and takes it off once the flash is over", () => {
    let now = 0;
    const flashes = new Flashes(700, 100, () => now);
    const up = document.createElement("span");
    const down = document.createElement("span");
    flashes.start(up, true);
    now = 300;
    flashes.start(down, false);
    expect(up.className).toBe("flash-up");
    expect(down.className).toBe("flash-down");
    now = 700;
    flashes.sweep();
    expect(up.className).toBe("");
    expect(down.className).toBe("flash-down");
    // A new flash in the other direction replaces the class and starts the time again.
    flashes.start(down, true);
    now = 1300;
    flashes.sweep();
    expect(down.className).toBe("flash-up");
    now = 1400;
    flashes.sweep();
    expect(down.className).toBe("");
    expect(flashes.size).toBe(0);
  });

  it("stops a flash at once", () => {
    const flashes = new Flashes(700, 100, () => 0);
    const cell = document.createElement("span");
    flashes.start(cell, true);
    flashes.stop(cell);
    expect(cell.className).toBe("");
    expect(flashes.size).toBe(0);
  });
});
