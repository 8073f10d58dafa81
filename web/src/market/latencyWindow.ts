/**
 * The last `capacity` latency samples (ms), for a median that follows the live feed.
 * Writing is O(1) on the hot path; the median is computed only when the display asks.
 */
export class LatencyWindow {
  private readonly samples: Float64Array;
  private next = 0;
  private count = 0;

  constructor(capacity = 256) {
    this.samples = new Float64Array(capacity);
  }

  add(ms: number): void {
    if (!Number.isFinite(ms)) return;
    this.samples[this.next] = ms;
    this.next = (this.next + 1) % this.samples.length;
    if (this.count < this.samples.length) this.count += 1;
  }

  /** Median of the held samples, or null when there are none. */
  median(): number | null {
    if (this.count === 0) return null;
    const sorted = Array.from(this.samples.subarray(0, this.count)).sort((a, b) => a - b);
    const mid = sorted.length >> 1;
    return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  }
}
