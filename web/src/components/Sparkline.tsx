import { memo, useCallback, useSyncExternalStore } from "react";
import { useBars } from "../market/MarketContext";
import type { Bar } from "../market/types";
import { SPARK_HEIGHT, SPARK_WIDTH } from "./columns";

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

/**
 * A row's sparkline: one SVG polyline from the symbol's one-minute bars. It subscribes to
 * that symbol's bars only, so it redraws when a bar changes (about once a second), never on a tick.
 */
export const Sparkline = memo(function Sparkline({ symbol }: { symbol: string }) {
  const { store } = useBars();
  const subscribe = useCallback((listener: () => void) => store.subscribe(symbol, listener), [store, symbol]);
  const bars = useSyncExternalStore(subscribe, () => store.get(symbol));
  const points = sparkPoints(bars, SPARK_WIDTH - 8, SPARK_HEIGHT);
  const first = bars[0];
  const last = bars[bars.length - 1];
  const dir = first && last ? (last.close > first.open ? "up" : last.close < first.open ? "down" : "flat") : "flat";
  return (
    <svg
      className="spark"
      width={SPARK_WIDTH - 8}
      height={SPARK_HEIGHT}
      viewBox={`0 0 ${SPARK_WIDTH - 8} ${SPARK_HEIGHT}`}
      data-testid="sparkline"
      data-bars={bars.length}
      data-dir={dir}
      aria-hidden="true"
    >
      {points !== null && <polyline points={points} fill="none" stroke="currentColor" strokeWidth="1.25" />}
    </svg>
  );
});
