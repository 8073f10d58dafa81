import { useCallback } from "react";
import { Dashboard } from "../components/Dashboard";
import { GlobalStyle } from "../components/GlobalStyle";
import { MarketProvider, SPARKLINES_STORAGE_KEY, type FeedInstrument } from "../market/MarketContext";
import { DEFAULT_WATCHLIST } from "../market/universe";
import { StaticSessionProvider } from "../session/SessionContext";
import { ThemeChoiceProvider } from "../theme/ThemeContext";
import { benchSymbols, SyntheticFeed } from "./syntheticFeed";

/** Counters the benchmark script reads from `window.__livewsBench`. */
export interface BenchCounters {
  symbols: number;
  ratePerSymbol: number;
  received: number;
  flushes: number;
  flushedTicks: number;
}

declare global {
  interface Window {
    __livewsBench?: BenchCounters;
  }
}

export interface BenchOptions {
  symbols: number;
  ratePerSymbol: number;
  /** Socket frames per second the ticks arrive in (a gateway batches them). */
  batchesPerSecond: number;
  /** Sparklines in every row (the default), or off to compare. */
  sparklines?: boolean;
}

/**
 * The dashboard on a synthetic feed (`?bench=synthetic`): no auth, no socket, the same
 * provider, coalescer, board and rows as the live page. The bench user's watchlist is
 * `symbols` symbols, stored under its own key so it never touches a real user's.
 */
export function BenchApp({ symbols, ratePerSymbol, batchesPerSecond }: BenchOptions) {
  const counters = window.__livewsBench!;
  const sub = benchUser(symbols);
  const createFeed = useCallback(
    () => new SyntheticFeed({ ratePerSymbol, batchesPerSecond }),
    [ratePerSymbol, batchesPerSecond],
  );
  const instrument: FeedInstrument = useInstrument(counters);
  return (
    <ThemeChoiceProvider>
      <GlobalStyle />
      <StaticSessionProvider sub={sub}>
        <MarketProvider createFeed={createFeed} instrument={instrument}>
          <Dashboard />
        </MarketProvider>
      </StaticSessionProvider>
    </ThemeChoiceProvider>
  );
}

const benchUser = (symbols: number) => `bench-${symbols}`;

/** Before the first render: the counters, and the bench user's watchlist of `symbols` symbols. */
export function prepareBench({ symbols, ratePerSymbol, sparklines = true }: BenchOptions): void {
  window.localStorage.setItem(SPARKLINES_STORAGE_KEY, sparklines ? "on" : "off");
  window.__livewsBench = { symbols, ratePerSymbol, received: 0, flushes: 0, flushedTicks: 0 };
  const watchlist = benchSymbols(DEFAULT_WATCHLIST, symbols);
  window.localStorage.setItem(`livews.watchlist.${benchUser(symbols)}`, JSON.stringify(watchlist));
}

const instruments = new WeakMap<BenchCounters, FeedInstrument>();

function useInstrument(counters: BenchCounters): FeedInstrument {
  let instrument = instruments.get(counters);
  if (instrument === undefined) {
    instrument = {
      received: (n) => {
        counters.received += n;
      },
      flushed: (n) => {
        counters.flushes += 1;
        counters.flushedTicks += n;
      },
    };
    instruments.set(counters, instrument);
  }
  return instrument;
}
