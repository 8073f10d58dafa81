import { describe, expect, it } from "vitest";
import {
  direction,
  formatChange,
  formatLatency,
  formatPercent,
  formatPrice,
  formatQuantity,
  formatTime,
  formatTitle,
  formatVolume,
  secondsUntil,
} from "./numbers";

describe("formatting", () => {
  it("shows a dash for unknown values, never 0 or NaN", () => {
    for (const f of [formatPrice, formatChange, formatPercent, formatQuantity, formatVolume, formatTime, formatLatency]) {
      expect(f(null)).toBe("—");
      expect(f(Number.NaN)).toBe("—");
    }
  });

  it("formats prices with two decimals and Indian grouping", () => {
    expect(formatPrice(812.35)).toBe("812.35");
    expect(formatPrice(26050)).toBe("26,050.00");
    expect(formatPrice(1234567.891)).toBe("12,34,567.89");
  });

  it("signs changes and percentages", () => {
    expect(formatChange(1.254)).toBe("+1.25");
    expect(formatChange(-0.4)).toBe("-0.40");
    expect(formatChange(0)).toBe("0.00");
    expect(formatPercent(-1.5)).toBe("-1.50%");
    expect(formatPercent(2)).toBe("+2.00%");
  });

  it("abbreviates large volumes in lakh and crore, always with two decimals", () => {
    expect(formatVolume(99_999)).toBe("99,999");
    expect(formatVolume(150_000)).toBe("1.50L");
    expect(formatVolume(600_000)).toBe("6.00L");
    expect(formatVolume(3_520_000)).toBe("35.20L");
    expect(formatVolume(783_000)).toBe("7.83L");
    expect(formatVolume(9_999_999)).toBe("1.00Cr");
    expect(formatVolume(23_400_000)).toBe("2.34Cr");
    expect(formatVolume(12_345_000_000)).toBe("1,234.50Cr");
  });

  it("titles the tab with a symbol's price and signed change", () => {
    expect(formatTitle("NIFTY 50", 25_986.35, -0.2412)).toBe("NIFTY 50 25,986.35 ▼0.24%");
    expect(formatTitle("SBIN", 812.5, 1.5)).toBe("SBIN 812.50 ▲1.50%");
    expect(formatTitle("SBIN", 812.5, 0)).toBe("SBIN 812.50 0.00%");
    expect(formatTitle("SBIN", 812.5, null)).toBe("SBIN 812.50");
    expect(formatTitle(null, null, null)).toBe("LiveWebsocket");
  });

  it("counts whole seconds down to a retry", () => {
    expect(secondsUntil(10_000, 6_001)).toBe(4);
    expect(secondsUntil(10_000, 10_500)).toBe(0);
  });

  it("shows times on the market's clock (IST)", () => {
    // 2025-12-01T03:45:30Z is 09:15:30 in India.
    expect(formatTime(Date.UTC(2025, 11, 1, 3, 45, 30))).toBe("09:15:30");
  });

  it("formats latency", () => {
    expect(formatLatency(3.21)).toBe("3.2 ms");
    expect(formatLatency(42.6)).toBe("43 ms");
  });

  it("tells the direction", () => {
    expect(direction(2)).toBe(1);
    expect(direction(-0.01)).toBe(-1);
    expect(direction(0)).toBe(0);
    expect(direction(null)).toBe(0);
  });
});
