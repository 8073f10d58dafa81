/** Display formatting for prices, quantities and times; every function takes null for "unknown". */

const DASH = "—";

const priceFormat = new Intl.NumberFormat("en-IN", { minimumFractionDigits: 2, maximumFractionDigits: 2 });
const quantityFormat = new Intl.NumberFormat("en-IN", { maximumFractionDigits: 0 });
const compactFormat = new Intl.NumberFormat("en-IN", { notation: "compact", maximumFractionDigits: 2 });
const timeFormat = new Intl.DateTimeFormat("en-GB", {
  hour: "2-digit",
  minute: "2-digit",
  second: "2-digit",
  hour12: false,
  timeZone: "Asia/Kolkata",
});

export function formatPrice(value: number | null): string {
  return value === null || !Number.isFinite(value) ? DASH : priceFormat.format(value);
}

/** Signed, two decimals: "+1.25", "-0.40", "0.00". */
export function formatChange(value: number | null): string {
  if (value === null || !Number.isFinite(value)) return DASH;
  const text = priceFormat.format(Math.abs(value));
  return value > 0 ? `+${text}` : value < 0 ? `-${text}` : text;
}

export function formatPercent(value: number | null): string {
  const text = formatChange(value);
  return text === DASH ? DASH : `${text}%`;
}

export function formatQuantity(value: number | null): string {
  return value === null || !Number.isFinite(value) ? DASH : quantityFormat.format(value);
}

/** Large volumes in Indian compact notation: 1.2L, 3.4Cr. */
export function formatVolume(value: number | null): string {
  if (value === null || !Number.isFinite(value)) return DASH;
  return value < 100_000 ? quantityFormat.format(value) : compactFormat.format(value);
}

/** Epoch ms → "HH:MM:SS" in India Standard Time (the market's clock). */
export function formatTime(epochMs: number | null): string {
  return epochMs === null || !Number.isFinite(epochMs) ? DASH : timeFormat.format(epochMs);
}

export function formatLatency(ms: number | null): string {
  if (ms === null || !Number.isFinite(ms)) return DASH;
  return ms < 10 ? `${ms.toFixed(1)} ms` : `${Math.round(ms)} ms`;
}

/** -1, 0 or 1: the direction a value moved in, for colours and arrows. */
export function direction(value: number | null): -1 | 0 | 1 {
  if (value === null || !Number.isFinite(value) || value === 0) return 0;
  return value > 0 ? 1 : -1;
}
