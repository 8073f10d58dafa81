/** When to fetch the next access token: before expiry, leaving time to retry. */

/** Renew this long before expiry at most (ms). */
export const RENEW_MARGIN_MAX_MS = 60_000;
/** …and at least this share of the token's life before expiry. */
export const RENEW_MARGIN_SHARE = 0.2;
/** After a failed renewal, try again this soon (ms). */
export const RENEW_RETRY_MS = 5_000;

/**
 * Delay (ms) from now until the token issued with `expiresInS` should be renewed:
 * 60 s early for the default 15-minute token, a fifth of its life early for short ones.
 */
export function renewDelayMs(expiresInS: number): number {
  const lifeMs = Math.max(0, expiresInS * 1000);
  const margin = Math.min(RENEW_MARGIN_MAX_MS, lifeMs * RENEW_MARGIN_SHARE);
  return Math.max(0, Math.round(lifeMs - margin));
}

export interface Clock {
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const realClock: Clock = {
  setTimeout: (callback, ms) => globalThis.setTimeout(callback, ms),
  clearTimeout: (handle) => globalThis.clearTimeout(handle as ReturnType<typeof setTimeout>),
};

/**
 * One pending renewal at a time: scheduling again replaces the previous one.
 * The owner calls {@link RenewalTimer.cancel} when the session ends.
 */
export class RenewalTimer {
  private handle: unknown = null;

  constructor(
    private readonly renew: () => void,
    private readonly clock: Clock = realClock,
  ) {}

  /** Renew in time for a token that expires `expiresInS` seconds from now. */
  scheduleForToken(expiresInS: number): void {
    this.scheduleIn(renewDelayMs(expiresInS));
  }

  scheduleIn(ms: number): void {
    this.cancel();
    this.handle = this.clock.setTimeout(() => {
      this.handle = null;
      this.renew();
    }, ms);
  }

  get pending(): boolean {
    return this.handle !== null;
  }

  cancel(): void {
    if (this.handle !== null) this.clock.clearTimeout(this.handle);
    this.handle = null;
  }
}
