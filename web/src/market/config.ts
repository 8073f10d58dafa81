/** Tunables of the board, in one place. */

/** A symbol with no update for this long is marked stale (ms). */
export const STALE_AFTER_MS = 10_000;
/** How often the stale markers and the latency readout are refreshed (ms). */
export const HOUSEKEEPING_INTERVAL_MS = 500;
/** Latency samples the median is taken over. */
export const LATENCY_SAMPLES = 512;
/** How long a notice (e.g. a rejected symbol) stays unless dismissed (ms). */
export const NOTICE_TTL_MS = 8_000;
