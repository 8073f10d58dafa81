/** How the coalescer asks for a frame; `requestAnimationFrame` in the browser. */
export interface FrameScheduler {
  request(callback: () => void): number;
  cancel(handle: number): void;
}

export const animationFrames: FrameScheduler = {
  request: (callback) => requestAnimationFrame(() => callback()),
  cancel: (handle) => cancelAnimationFrame(handle),
};

/**
 * Collect items as they arrive and hand them over at most once per frame.
 *
 * Items that share a key replace each other when `keep(newer, held)` says so, so the
 * flush carries at most one item per key however fast they come. Nothing is dropped
 * between flushes except what `keep` rejects.
 */
export class FrameCoalescer<T> {
  private pending = new Map<string, T>();
  private handle: number | null = null;

  constructor(
    private readonly keyOf: (item: T) => string,
    private readonly keep: (incoming: T, held: T) => boolean,
    private readonly flush: (items: T[]) => void,
    private readonly frames: FrameScheduler = animationFrames,
  ) {}

  push(items: readonly T[]): void {
    for (const item of items) {
      const key = this.keyOf(item);
      const held = this.pending.get(key);
      if (held === undefined || this.keep(item, held)) this.pending.set(key, item);
    }
    if (this.pending.size > 0 && this.handle === null) {
      this.handle = this.frames.request(() => this.drain());
    }
  }

  /** Number of items waiting for the next frame. */
  get size(): number {
    return this.pending.size;
  }

  /** Drop what is pending and the scheduled frame. */
  cancel(): void {
    if (this.handle !== null) this.frames.cancel(this.handle);
    this.handle = null;
    this.pending.clear();
  }

  private drain(): void {
    this.handle = null;
    if (this.pending.size === 0) return;
    const items = [...this.pending.values()];
    this.pending = new Map();
    this.flush(items);
  }
}
