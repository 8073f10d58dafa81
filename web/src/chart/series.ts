import type { Bar } from "../market/types";

/** The market's clock is IST (UTC+5:30); the chart library draws times as UTC, so bars are shifted. */
export const IST_OFFSET_S = 5.5 * 3600;

/** Chart time of a bar: its minute's start in seconds, shifted so the axis reads IST. */
export function chartTime(bar: Bar): number {
  return Math.floor(bar.start / 1000) + IST_OFFSET_S;
}

export interface Candle {
  time: number;
  open: number;
  high: number;
  low: number;
  close: number;
}

/** A volume column, or only a time (whitespace) for indices, which have no volume. */
export interface VolumePoint {
  time: number;
  value?: number;
  color?: string;
}

export function toCandle(bar: Bar): Candle {
  return { time: chartTime(bar), open: bar.open, high: bar.high, low: bar.low, close: bar.close };
}

export function toVolume(bar: Bar, up: string, down: string): VolumePoint {
  if (bar.volume === null) return { time: chartTime(bar) };
  return { time: chartTime(bar), value: bar.volume, color: bar.close >= bar.open ? up : down };
}

/**
 * How to bring a chart showing `shown` up to `bars` (both oldest first): the index from which
 * bars can be fed one by one to the series' `update` (only the last bar changed or bars were
 * appended), or null when the series must be set afresh (another symbol, a refill from a
 * snapshot that changed older bars).
 */
export function updateFrom(shown: readonly Bar[], bars: readonly Bar[]): number | null {
  if (shown.length === 0 || bars.length < shown.length) return null;
  let i = 0;
  while (i < shown.length && shown[i] === bars[i]) i += 1;
  if (i < shown.length - 1) return null;
  const last = shown[shown.length - 1]!;
  if (i === shown.length - 1 && bars[i]!.start !== last.start) return null;
  return i;
}
