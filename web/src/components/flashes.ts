/**
 * The LTP flash as a class toggle: `flash-up` / `flash-down` set on the cell's span and
 * taken off again by one shared timer, without React and without a CSS animation (an
 * animation recalculates the style of every flashing cell on every frame while it runs; a
 * toggle costs two style changes per flash).
 */
export class Flashes {
  private readonly until = new Map<HTMLElement, number>();
  private timer: ReturnType<typeof setTimeout> | null = null;

  constructor(
    private readonly durationMs: number,
    private readonly sweepMs: number,
    private readonly now: () => number = () => performance.now(),
  ) {}

  start(element: HTMLElement, up: boolean): void {
    element.classList.toggle("flash-up", up);
    element.classList.toggle("flash-down", !up);
    this.until.set(element, this.now() + this.durationMs);
    if (this.timer === null) this.timer = setTimeout(() => this.sweep(), this.sweepMs);
  }

  /** Take the flash off `element` now (a row leaving the page). */
  stop(element: HTMLElement): void {
    this.until.delete(element);
    element.classList.remove("flash-up", "flash-down");
  }

  /** Number of cells flashing. */
  get size(): number {
    return this.until.size;
  }

  /** End the flashes that are over. */
  sweep(): void {
    this.timer = null;
    const now = this.now();
    for (const [element, until] of this.until) {
      if (until <= now) this.stop(element);
    }
    if (this.until.size > 0) this.timer = setTimeout(() => this.sweep(), this.sweepMs);
  }
}
