import type { Tick } from "../market/types";

/**
 * Decoder of the compact tick encoding (docs/compact-encoding.md; CONTRACT §3 v1.1).
 *
 * A connection opened with `auth: {token, format: "compact"}` receives rows instead of Tick v1
 * objects in `ticks` and in a quote `snapshot`'s `ticks`. Feed every row of one connection, in
 * order, to one decoder (and `reset()` it on a new connection).
 *
 * - key row `[symbol, seq, kind, ltp, open, …, ingest_ts]`: a whole tick (values as in Tick v1);
 * - delta row `[symbol, seq, mask, …values]`: the fields whose bit `1 << i` (i = index in
 *   {@link FIELDS}) is set, in order; each value is `null`, a string (new kind), `[x]` (new value
 *   `x` as is) or an integer `d`: new = (round(old × scale) + d) / scale.
 */
export const FIELDS = [
  "kind", "ltp", "open", "high", "low", "prev_close", "change", "change_pct", "volume",
  "ltq", "avg_price", "bid", "ask", "bid_qty", "ask_qty", "tot_buy_qty", "tot_sell_qty",
  "ltt", "exch_ts", "ingest_ts",
] as const;

const PRICES = new Set(["ltp", "open", "high", "low", "prev_close", "change", "change_pct", "avg_price", "bid", "ask"]);

export function scaleOf(field: string): number {
  return PRICES.has(field) ? 100 : 1;
}

export class CompactError extends Error {}

type Row = readonly unknown[];
type Fields = Record<string, unknown>;

function isInt(value: unknown): value is number {
  return typeof value === "number" && Number.isInteger(value);
}

function applyDelta(old: unknown, value: unknown, scale: number): unknown {
  if (value === null || typeof value === "string") return value;
  if (Array.isArray(value)) {
    if (value.length !== 1) throw new CompactError("an absolute value is a one-element list");
    return value[0];
  }
  if (!isInt(value)) throw new CompactError(`a delta must be an integer, got ${JSON.stringify(value)}`);
  if (typeof old !== "number") throw new CompactError("an integer delta needs a numeric old value");
  return (Math.round(old * scale) + value) / scale;
}

export class CompactDecoder {
  private readonly last = new Map<string, Fields>();

  reset(): void {
    this.last.clear();
  }

  decode(row: unknown): Tick {
    if (!Array.isArray(row) || row.length < 3) throw new CompactError("a row is a list [symbol, seq, kind | mask, ...]");
    const [symbol, seq, third] = row as Row;
    if (typeof symbol !== "string" || !isInt(seq)) throw new CompactError("a row starts with symbol and seq");
    let tick: Fields;
    if (typeof third === "string") {
      if (row.length !== 2 + FIELDS.length) throw new CompactError(`a key row has ${2 + FIELDS.length} items`);
      tick = { v: 1, symbol, seq };
      FIELDS.forEach((field, i) => {
        tick[field] = row[2 + i];
      });
    } else {
      const old = this.last.get(symbol);
      if (old === undefined) throw new CompactError(`a delta row for ${symbol} before any key row`);
      if (!isInt(third) || third < 0) throw new CompactError("a delta row's mask is a non-negative integer");
      tick = { ...old, seq };
      let at = 3;
      FIELDS.forEach((field, i) => {
        // 20 fields: the mask fits a 32-bit integer.
        if ((third & (1 << i)) === 0) return;
        if (at >= row.length) throw new CompactError("fewer values than the mask says");
        tick[field] = applyDelta(old[field], row[at], scaleOf(field));
        at += 1;
      });
      if (at !== row.length) throw new CompactError("more values than the mask says");
    }
    this.last.set(symbol, tick);
    return tick as unknown as Tick;
  }

  decodeAll(rows: unknown): Tick[] {
    if (!Array.isArray(rows)) throw new CompactError("a ticks payload is a list of rows");
    return rows.map((row) => this.decode(row));
  }
}
