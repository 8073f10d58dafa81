import type { Bar } from "./types";

/** Bars kept per symbol: a trading day has 375 one-minute bars; a little room for a long day. */
export const MAX_BARS = 480;

/** Which of two bars of the same minute is newer: higher seq, and the final of a seq wins. */
function newer(incoming: Bar, held: Bar): boolean {
  return 2 * incoming.seq + (incoming.final ? 1 : 0) > 2 * held.seq + (held.final ? 1 : 0);
}

/**
 * Fold `incoming` bars (any order, possibly replayed) into a symbol's bars, oldest first.
 * The same minute is replaced only by a newer version; a minute not held is inserted in order.
 * Returns `held` itself when nothing changed, so subscribers can skip work.
 */
export function mergeBars(held: readonly Bar[], incoming: readonly Bar[]): readonly Bar[] {
  let out: Bar[] | null = null;
  for (const bar of incoming) {
    const list: readonly Bar[] = out ?? held;
    const last = list[list.length - 1];
    if (last === undefined || bar.start > last.start) {
      out = out ?? [...held];
      out.push(bar);
      continue;
    }
    // Usually the open bar again; otherwise search from the end (bars are ordered by start).
    let i = list.length - 1;
    while (i >= 0 && list[i]!.start > bar.start) i -= 1;
    if (i >= 0 && list[i]!.start === bar.start) {
      if (!newer(bar, list[i]!)) continue;
      out = out ?? [...held];
      out[i] = bar;
    } else {
      out = out ?? [...held];
      out.splice(i + 1, 0, bar);
    }
  }
  if (out === null) return held;
  return out.length > MAX_BARS ? out.slice(out.length - MAX_BARS) : out;
}

const NONE: readonly Bar[] = [];

/**
 * The page's bars, outside React state: the chart and the sparklines subscribe per symbol,
 * so a bar of one symbol re-renders only what shows that symbol (at most about once a second).
 */
export class BarStore {
  private readonly bars = new Map<string, readonly Bar[]>();
  private readonly listeners = new Map<string, Set<() => void>>();

  get(symbol: string): readonly Bar[] {
    return this.bars.get(symbol) ?? NONE;
  }

  /** Fold bars in (from a snapshot or live) and tell the symbols' subscribers. */
  push(incoming: readonly Bar[]): void {
    const bySymbol = new Map<string, Bar[]>();
    for (const bar of incoming) {
      const list = bySymbol.get(bar.symbol);
      if (list === undefined) bySymbol.set(bar.symbol, [bar]);
      else list.push(bar);
    }
    for (const [symbol, bars] of bySymbol) {
      const held = this.get(symbol);
      const next = mergeBars(held, bars);
      if (next === held) continue;
      this.bars.set(symbol, next);
      this.listeners.get(symbol)?.forEach((listener) => listener());
    }
  }

  /** Forget a symbol's bars (no longer subscribed). */
  drop(symbol: string): void {
    if (!this.bars.delete(symbol)) return;
    this.listeners.get(symbol)?.forEach((listener) => listener());
  }

  subscribe(symbol: string, listener: () => void): () => void {
    let set = this.listeners.get(symbol);
    if (set === undefined) {
      set = new Set();
      this.listeners.set(symbol, set);
    }
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size === 0) this.listeners.delete(symbol);
    };
  }
}
