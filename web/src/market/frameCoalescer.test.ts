import { describe, expect, it } from "vitest";
import { FrameCoalescer, type FrameScheduler } from "./frameCoalescer";

class ManualFrames implements FrameScheduler {
  callbacks = new Map<number, () => void>();
  private next = 1;
  request(callback: () => void): number {
    const handle = this.next++;
    this.callbacks.set(handle, callback);
    return handle;
  }
  cancel(handle: number): void {
    this.callbacks.delete(handle);
  }
  /** Run the frame: every callback requested so far. */
  tick(): void {
    const due = [...this.callbacks.values()];
    this.callbacks.clear();
    for (const callback of due) callback();
  }
}

interface Item {
  key: string;
  seq: number;
}

function setup() {
  const frames = new ManualFrames();
  const flushed: Item[][] = [];
  const coalescer = new FrameCoalescer<Item>(
    (i) => i.key,
    (incoming, held) => incoming.seq > held.seq,
    (items) => flushed.push(items),
    frames,
  );
  return { frames, flushed, coalescer };
}

describe("FrameCoalescer", () => {
  it("asks for one frame however many pushes come before it", () => {
    const { frames, flushed, coalescer } = setup();
    for (let i = 1; i <= 100; i++) coalescer.push([{ key: `s${i % 10}`, seq: i }]);
    expect(frames.callbacks.size).toBe(1);
    expect(flushed).toHaveLength(0);
    frames.tick();
    expect(flushed).toHaveLength(1);
    expect(flushed[0]).toHaveLength(10);
  });

  it("hands over the newest item per key", () => {
    const { frames, flushed, coalescer } = setup();
    coalescer.push([{ key: "a", seq: 2 }, { key: "a", seq: 5 }]);
    coalescer.push([{ key: "a", seq: 3 }]);
    frames.tick();
    expect(flushed[0]).toEqual([{ key: "a", seq: 5 }]);
  });

  it("schedules again only after a flush, and not for nothing", () => {
    const { frames, flushed, coalescer } = setup();
    coalescer.push([]);
    expect(frames.callbacks.size).toBe(0);
    coalescer.push([{ key: "a", seq: 1 }]);
    frames.tick();
    frames.tick();
    expect(flushed).toHaveLength(1);
    coalescer.push([{ key: "a", seq: 2 }]);
    expect(frames.callbacks.size).toBe(1);
    frames.tick();
    expect(flushed).toHaveLength(2);
  });

  it("cancel drops what is pending and the frame", () => {
    const { frames, flushed, coalescer } = setup();
    coalescer.push([{ key: "a", seq: 1 }]);
    coalescer.cancel();
    expect(frames.callbacks.size).toBe(0);
    expect(coalescer.size).toBe(0);
    frames.tick();
    expect(flushed).toHaveLength(0);
  });
});
