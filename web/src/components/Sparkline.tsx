import { memo, useEffect, useRef } from "react";
import { useTheme } from "styled-components";
import { useBars } from "../market/MarketContext";
import type { Bar } from "../market/types";
import { SPARK_HEIGHT, SPARK_WIDTH } from "./columns";

const WIDTH = SPARK_WIDTH - 8;

/**
 * The SVG polyline of a day's closes scaled into `width` × `height` (1 px inset), or null
 * when there are fewer than two bars. Exported for tests.
 */
export function sparkPoints(bars: readonly Bar[], width: number, height: number): string | null {
  if (bars.length < 2) return null;
  let low = Infinity;
  let high = -Infinity;
  for (const b of bars) {
    if (b.low < low) low = b.low;
    if (b.high > high) high = b.high;
  }
  const span = high - low || 1;
  const step = (width - 2) / (bars.length - 1);
  const points: string[] = [];
  bars.forEach((b, i) => {
    const x = 1 + i * step;
    const y = 1 + ((high - b.close) / span) * (height - 2);
    points.push(`${x.toFixed(1)},${y.toFixed(1)}`);
  });
  return points.join(" ");
}

/** How often a sparkline redraws at most while only its open bar changes (ms); a new minute redraws at once. */
export const SPARK_REFRESH_MS = 10_000;

function dayDirection(bars: readonly Bar[]): "up" | "down" | "flat" {
  const first = bars[0];
  const last = bars[bars.length - 1];
  if (first === undefined || last === undefined) return "flat";
  return last.close > first.open ? "up" : last.close < first.open ? "down" : "flat";
}

/** The sparkline as an SVG document for an `<img>` (explicit colour: an image has no currentColor). */
export function sparkImage(points: string, color: string): string {
  const svg =
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${SPARK_HEIGHT}" viewBox="0 0 ${WIDTH} ${SPARK_HEIGHT}">` +
    `<polyline points="${points}" fill="none" stroke="${color}" stroke-width="1.25"/></svg>`;
  return `data:image/svg+xml,${encodeURIComponent(svg)}`;
}

let rasterCanvas: HTMLCanvasElement | null | undefined;

/** A canvas to draw sparklines on, shared by all rows; null where there is none (jsdom, canvas blocked). */
function sparkCanvas(): HTMLCanvasElement | null {
  if (rasterCanvas === undefined) {
    try {
      const canvas = /jsdom/i.test(navigator.userAgent) ? null : document.createElement("canvas");
      rasterCanvas = canvas?.getContext("2d") ? canvas : null;
    } catch {
      rasterCanvas = null;
    }
  }
  return rasterCanvas;
}

/**
 * The sparkline as a PNG in a data URL, drawn at the screen's pixel ratio; else (no canvas)
 * the SVG of {@link sparkImage}. A bitmap, not an SVG: Chromium keeps an SVG image as a small
 * document of its own (one parsed and thrown away per new source) and records its vectors
 * again whenever the row repaints, which a price change does several times a second.
 */
export function sparkRaster(points: string, color: string): string {
  const canvas = sparkCanvas();
  const context = canvas?.getContext("2d");
  if (!canvas || !context) return sparkImage(points, color);
  const ratio = Math.min(Math.max(window.devicePixelRatio || 1, 1), 3);
  canvas.width = Math.round(WIDTH * ratio);
  canvas.height = Math.round(SPARK_HEIGHT * ratio);
  context.setTransform(ratio, 0, 0, ratio, 0, 0);
  context.clearRect(0, 0, WIDTH, SPARK_HEIGHT);
  context.beginPath();
  for (const [i, pair] of points.split(" ").entries()) {
    const [x, y] = pair.split(",").map(Number) as [number, number];
    if (i === 0) context.moveTo(x, y);
    else context.lineTo(x, y);
  }
  context.strokeStyle = color;
  context.lineWidth = 1.25;
  context.lineJoin = "round";
  context.stroke();
  return canvas.toDataURL("image/png");
}

/** Sparklines drawn at most per frame; the others wait for the next frames. */
export const SPARKS_PER_FRAME = 8;

/**
 * Draws sparklines when they are in view (or about to be: 200 px margin), a few per frame:
 * a sparkline whose bars changed is marked and drawn in a later frame; one out of view stays
 * marked until it scrolls in. Where there is no IntersectionObserver (jsdom) it draws at once.
 */
class SparkPainter {
  private readonly pending = new Map<Element, () => void>();
  private readonly inView = new Set<Element>();
  private readonly observer: IntersectionObserver | null;
  private frame: number | null = null;

  constructor() {
    this.observer =
      typeof IntersectionObserver === "undefined"
        ? null
        : new IntersectionObserver(
            (entries) => {
              for (const entry of entries) {
                if (entry.isIntersecting) this.inView.add(entry.target);
                else this.inView.delete(entry.target);
              }
              this.schedule();
            },
            { rootMargin: "200px 0px" },
          );
  }

  watch(element: Element): void {
    this.observer?.observe(element);
  }

  forget(element: Element): void {
    this.observer?.unobserve(element);
    this.inView.delete(element);
    this.pending.delete(element);
  }

  /** Draw `element` with `draw` soon (now, without an observer); replaces a draw still waiting. */
  request(element: Element, draw: () => void): void {
    if (this.observer === null) {
      draw();
      return;
    }
    this.pending.set(element, draw);
    this.schedule();
  }

  private schedule(): void {
    if (this.frame !== null) return;
    for (const element of this.pending.keys()) {
      if (this.inView.has(element)) {
        this.frame = requestAnimationFrame(() => this.drain());
        return;
      }
    }
  }

  private drain(): void {
    this.frame = null;
    let drawn = 0;
    for (const [element, draw] of this.pending) {
      if (!this.inView.has(element)) continue;
      this.pending.delete(element);
      draw();
      if (++drawn >= SPARKS_PER_FRAME) break;
    }
    this.schedule();
  }
}

let sharedPainter: SparkPainter | undefined;
const painter = () => (sharedPainter ??= new SparkPainter());

/**
 * A row's sparkline: the symbol's one-minute bars as an image (a PNG drawn from the closes'
 * polyline, in a data URL). An image is decoded once and then only copied when the row
 * repaints (a flashing price), where an inline SVG would be drawn again as vectors. It listens
 * to that symbol's bars in the store and sets the image itself, without React: when a new
 * minute starts, and otherwise at most every {@link SPARK_REFRESH_MS} (a 64 px line of the day
 * does not need the open bar's every second). Never on a tick; the row does not re-render.
 * Only sparklines in view are drawn, a few per frame ({@link SparkPainter}).
 */
export const Sparkline = memo(function Sparkline({ symbol }: { symbol: string }) {
  const { store } = useBars();
  const theme = useTheme();
  const img = useRef<HTMLImageElement>(null);
  useEffect(() => {
    const element = img.current;
    if (!element) return;
    const colors = { up: theme.colors.up, down: theme.colors.down, flat: theme.colors.textMuted };
    let drawnBars = -1;
    let drawnAt = -Infinity;
    const draw = () => {
      const bars = store.get(symbol);
      drawnBars = bars.length;
      drawnAt = performance.now();
      const points = sparkPoints(bars, WIDTH, SPARK_HEIGHT);
      const dir = dayDirection(bars);
      element.dataset.bars = String(bars.length);
      element.dataset.dir = dir;
      element.dataset.points = points ?? "";
      if (points === null) element.removeAttribute("src");
      else element.src = sparkRaster(points, colors[dir]);
    };
    const changed = () => {
      const bars = store.get(symbol);
      if (bars.length === drawnBars && performance.now() - drawnAt < SPARK_REFRESH_MS) return;
      // Counted as drawn from now: the draw itself may wait for a frame or for the row to scroll in.
      drawnBars = bars.length;
      drawnAt = performance.now();
      painter().request(element, draw);
    };
    painter().watch(element);
    painter().request(element, draw);
    const unsubscribe = store.subscribe(symbol, changed);
    return () => {
      unsubscribe();
      painter().forget(element);
    };
  }, [store, symbol, theme]);
  return (
    <img
      ref={img}
      className="spark"
      width={WIDTH}
      height={SPARK_HEIGHT}
      alt=""
      data-testid="sparkline"
      data-bars="0"
      data-dir="flat"
      data-points=""
    />
  );
});
