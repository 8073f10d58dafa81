import {
  CandlestickSeries,
  createChart,
  HistogramSeries,
  type IChartApi,
  type ISeriesApi,
  type UTCTimestamp,
} from "lightweight-charts";
import { useEffect, useRef } from "react";
import styled, { useTheme } from "styled-components";
import { toCandle, toVolume, updateFrom, type VolumePoint } from "../chart/series";
import { useBars, useSelection } from "../market/MarketContext";
import type { Bar } from "../market/types";
import { displayName } from "../market/universe";
import type { Theme } from "../theme/themes";

const Panel = styled.section`
  contain: content;
  min-width: 0;
  overflow: hidden;
  padding: 8px 8px 4px;
  border-radius: 8px;
  border: 1px solid ${({ theme }) => theme.colors.border};
  background: ${({ theme }) => theme.colors.surface};
  h2 { margin: 0 4px 4px; font-size: 14px; display: flex; justify-content: space-between; gap: 8px; }
  h2 small { font-weight: 400; color: ${({ theme }) => theme.colors.textMuted}; }
  /* The chart sizes itself to this box (autoSize): the box must not size itself to the chart. */
  .box { position: relative; width: 100%; height: 240px; overflow: hidden; }
  .empty {
    position: absolute;
    inset: 0;
    display: grid;
    place-items: center;
    color: ${({ theme }) => theme.colors.textMuted};
    pointer-events: none;
  }
  .box:not([data-bars="0"]) .empty { display: none; }
  @media (max-width: 700px) { .box { height: 200px; } }
`;

interface ChartApi {
  chart: IChartApi;
  candles: ISeriesApi<"Candlestick">;
  volume: ISeriesApi<"Histogram">;
}

function volumeColors(theme: Theme): [string, string] {
  // Translucent so the columns sit behind the candles.
  return theme.name === "dark" ? ["rgba(76, 211, 125, 0.35)", "rgba(255, 123, 114, 0.35)"] : ["rgba(11, 122, 51, 0.3)", "rgba(194, 38, 31, 0.3)"];
}

function chartColors(theme: Theme) {
  const { colors } = theme;
  return {
    layout: { background: { color: colors.surface }, textColor: colors.textMuted, attributionLogo: true },
    grid: { vertLines: { color: colors.surfaceAlt }, horzLines: { color: colors.surfaceAlt } },
    rightPriceScale: { borderColor: colors.border },
    timeScale: { borderColor: colors.border },
  };
}

function candleColors(theme: Theme) {
  const { up, down } = theme.colors;
  return { upColor: up, downColor: down, borderUpColor: up, borderDownColor: down, wickUpColor: up, wickDownColor: down };
}

/** Whether this browser draws on a canvas (not so with canvas blocked, or in jsdom): else no chart, only its data. */
function canvasAvailable(): boolean {
  try {
    return typeof HTMLCanvasElement !== "undefined" && !/jsdom/i.test(navigator.userAgent) && document.createElement("canvas").getContext("2d") !== null;
  } catch {
    return false;
  }
}

// The library's time type is a branded number; chart/series.ts works in plain numbers.
const asTime = <T extends { time: number }>(point: T) => ({ ...point, time: point.time as UTCTimestamp });

/**
 * The selected symbol's day as one-minute candles with volume (lightweight-charts, canvas).
 * The chart is created once; a live bar costs one `update` of each series, a new symbol or a
 * refill after a reconnect one `setData`. It reads bars from the store, not from React state.
 */
export function ChartPanel() {
  const { selected } = useSelection();
  const { store } = useBars();
  const theme = useTheme();
  const box = useRef<HTMLDivElement>(null);
  const api = useRef<ChartApi | null>(null);
  const themeRef = useRef(theme);
  themeRef.current = theme;

  useEffect(() => {
    const element = box.current;
    if (element === null || !canvasAvailable()) return;
    const chart = createChart(element, {
      autoSize: true,
      ...chartColors(themeRef.current),
      localization: { locale: "en-IN" },
      rightPriceScale: { ...chartColors(themeRef.current).rightPriceScale, scaleMargins: { top: 0.08, bottom: 0.26 } },
      timeScale: { ...chartColors(themeRef.current).timeScale, timeVisible: true, secondsVisible: false },
      crosshair: { mode: 0 },
    });
    const candles = chart.addSeries(CandlestickSeries, { ...candleColors(themeRef.current), priceLineVisible: false });
    const volume = chart.addSeries(HistogramSeries, {
      priceScaleId: "volume",
      priceFormat: { type: "volume" },
      lastValueVisible: false,
      priceLineVisible: false,
    });
    chart.priceScale("volume").applyOptions({ scaleMargins: { top: 0.8, bottom: 0 } });
    api.current = { chart, candles, volume };
    return () => {
      api.current = null;
      chart.remove();
    };
  }, []);

  useEffect(() => {
    const chart = api.current;
    if (chart === null) return;
    chart.chart.applyOptions(chartColors(theme));
    chart.candles.applyOptions(candleColors(theme));
    const [up, down] = volumeColors(theme);
    chart.volume.setData(store.get(selected ?? "").map((b) => asTime(toVolume(b, up, down))));
  }, [theme, store, selected]);

  useEffect(() => {
    const element = box.current;
    let shown: readonly Bar[] = [];
    const draw = () => {
      const chart = api.current;
      if (element === null) return;
      const bars = selected === null ? [] : store.get(selected);
      const [up, down] = volumeColors(themeRef.current);
      const from = updateFrom(shown, bars);
      if (chart === null) {
        // nothing to draw on
      } else if (from === null) {
        chart.candles.setData(bars.map((b) => asTime(toCandle(b))));
        chart.volume.setData(bars.map((b): VolumePoint => toVolume(b, up, down)).map(asTime));
        chart.chart.timeScale().fitContent();
      } else {
        for (const bar of bars.slice(from)) {
          chart.candles.update(asTime(toCandle(bar)));
          chart.volume.update(asTime(toVolume(bar, up, down)));
        }
      }
      shown = bars;
      // For tests and the curious: what the chart holds, without reading its canvas.
      element.dataset.bars = String(bars.length);
      element.dataset.lastStart = String(bars[bars.length - 1]?.start ?? "");
    };
    draw();
    if (selected === null) return;
    return store.subscribe(selected, draw);
  }, [selected, store]);

  return (
    <Panel aria-label="Chart" data-testid="chart-panel" data-symbol={selected ?? undefined}>
      <h2>
        <span>{selected === null ? "Chart" : displayName(selected)}</span>
        <small>1-minute bars, today (IST)</small>
      </h2>
      <div className="box" ref={box} data-testid="chart" data-bars="0">
        <p className="empty">{selected === null ? "Select a row to chart it" : "No trades yet today"}</p>
      </div>
    </Panel>
  );
}
