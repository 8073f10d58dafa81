/** Display formatting for prices, quantities and times; every function takes null for "unknown". */

const DASH = "—";

const priceFormat = new Intl.NumberFormat("en-IN", { minimumFractionDigits: 2, maximumFractionDigits: 2 });
const quantityFormat = new Intl.NumberFormat("en-IN", { maximumFractionDigits: 0 });
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

const LAKH = 100_000;
const CRORE = 10_000_000;

/**
 * Large volumes in lakh and crore, always with two decimals so the column does not jump:
 * 99,999 · 1.50L · 35.20L · 2.34Cr · 1,234.50Cr.
 */
export function formatVolume(value: number | null): string {
  if (value === null || !Number.isFinite(value)) return DASH;
  if (Math.abs(value) < LAKH) return quantityFormat.format(value);
  // 99,99,999 rounds to 100.00L: show it as 1.00Cr instead.
  if (Math.abs(value) < CRORE && Math.round(Math.abs(value) / 1_000) < 10_000) return `${priceFormat.format(value / LAKH)}L`;
  return `${priceFormat.format(value / CRORE)}Cr`;
}

/** Epoch ms → "HH:MM:SS" in India Standard Time (the market's clock). */
export function formatTime(epochMs: number | null): string {
  return epochMs === null || !Number.isFinite(epochMs) ? DASH : timeFormat.format(epochMs);
}

export function formatLatency(ms: number | null): string {
  if (ms === null || !Number.isFinite(ms)) return DASH;
  return ms < 10 ? `${ms.toFixed(1)} ms` : `${Math.round(ms)} ms`;
}

/**
 * The tab title: "NIFTY 50 25,986.35 ▼0.24%" (▲ up, ▼ down, nothing flat); the app name
 * when nothing is known yet.
 */
export function formatTitle(name: string | null, ltp: number | null, changePct: number | null): string {
  if (name === null || ltp === null || !Number.isFinite(ltp)) return "LiveWebsocket";
  const dir = direction(changePct);
  const pct = changePct === null || !Number.isFinite(changePct) ? "" : ` ${dir > 0 ? "▲" : dir < 0 ? "▼" : ""}${priceFormat.format(Math.abs(changePct))}%`;
  return `${name} ${formatPrice(ltp)}${pct}`;
}

/** Whole seconds until `at` (epoch ms), never below zero: "retrying in 4 s". */
export function secondsUntil(at: number, now: number): number {
  return Math.max(0, Math.ceil((at - now) / 1000));
}

/** -1, 0 or 1: the direction a value moved in, for colours and arrows. */
export function direction(value: number | null): -1 | 0 | 1 {
  if (value === null || !Number.isFinite(value) || value === 0) return 0;
  return value > 0 ? 1 : -1;
}
