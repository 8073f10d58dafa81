import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { RENEW_MARGIN_MAX_MS, renewDelayMs, RenewalTimer } from "./renewal";

describe("renewDelayMs", () => {
  it("renews a 15-minute token one minute before it expires", () => {
    expect(renewDelayMs(900)).toBe(900_000 - RENEW_MARGIN_MAX_MS);
  });

  it("renews a short token a fifth of its life early", () => {
    expect(renewDelayMs(30)).toBe(24_000);
    expect(renewDelayMs(5)).toBe(4_000);
  });

  it("never schedules in the past", () => {
    expect(renewDelayMs(0)).toBe(0);
    expect(renewDelayMs(-10)).toBe(0);
  });
});

describe("RenewalTimer", () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("fires once, at the renewal time", () => {
    const renew = vi.fn();
    const timer = new RenewalTimer(renew);
    timer.scheduleForToken(30);
    vi.advanceTimersByTime(23_999);
    expect(renew).not.toHaveBeenCalled();
    vi.advanceTimersByTime(1);
    expect(renew).toHaveBeenCalledTimes(1);
    expect(timer.pending).toBe(false);
    vi.advanceTimersByTime(60_000);
    expect(renew).toHaveBeenCalledTimes(1);
  });

  it("replaces a pending renewal when a new token arrives", () => {
    const renew = vi.fn();
    const timer = new RenewalTimer(renew);
    timer.scheduleForToken(30);
    vi.advanceTimersByTime(20_000);
    timer.scheduleForToken(900);
    vi.advanceTimersByTime(10_000);
    expect(renew).not.toHaveBeenCalled();
    vi.advanceTimersByTime(900_000);
    expect(renew).toHaveBeenCalledTimes(1);
  });

  it("cancel stops it", () => {
    const renew = vi.fn();
    const timer = new RenewalTimer(renew);
    timer.scheduleIn(1000);
    timer.cancel();
    vi.advanceTimersByTime(5000);
    expect(renew).not.toHaveBeenCalled();
  });
});
