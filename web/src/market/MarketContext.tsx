import { createContext, useCallback, useContext, useEffect, useMemo, useRef, useState, type ReactNode } from "react";
import type { ConnectionState, FeedHandlers, MarketFeed } from "../gateway/feed";
import { backoffMs } from "../gateway/gatewayFeed";
import { byeText, rejectionText } from "../format/messages";
import { useSession } from "../session/SessionContext";
import { browserStorage, loadWatchlist, saveWatchlist, withoutSymbols, withSymbol } from "../watchlist/watchlistStorage";
import { BarStore } from "./barStore";
import { HOUSEKEEPING_INTERVAL_MS, LATENCY_SAMPLES, NOTICE_TTL_MS, STALE_AFTER_MS } from "./config";
import { FrameCoalescer } from "./frameCoalescer";
import { LatencyWindow } from "./latencyWindow";
import { staleSymbols } from "./staleness";
import { mergeDepth, mergeTicks } from "./tickMerge";
import { displayName, isIndexSymbol } from "./universe";
import type { Bar, Depth, QuoteRow, Rejection, SubscriptionMode, Tick, UpstreamStatus } from "./types";

export interface FeedStatus {
  connection: ConnectionState;
  upstream: UpstreamStatus | null;
  /** Median of recent `ingest_ts` → browser receipt delays (ms). */
  latencyMs: number | null;
  stale: ReadonlySet<string>;
  /** While disconnected: when the last market data arrived (epoch ms), if any did. */
  asOf: number | null;
  /** While disconnected: when the next connection attempt starts (epoch ms); null while one is under way. */
  retryAt: number | null;
}

export interface Notice {
  id: number;
  text: string;
  /** A button on the notice, e.g. undoing a removal. */
  action?: { label: string; run(): void };
}

export type AddResult = "added" | "exists" | "rejected" | "invalid";

export interface Watchlist {
  symbols: readonly string[];
  add(symbol: string): Promise<AddResult>;
  remove(symbol: string): void;
  notices: readonly Notice[];
  dismiss(id: number): void;
}

export interface Selection {
  selected: string | null;
  select(symbol: string | null): void;
  depth: Depth | null;
}

/** One-minute bars: the chart of the selected symbol, and the board's sparklines when on. */
export interface Bars {
  store: BarStore;
  sparklines: boolean;
  setSparklines(on: boolean): void;
}

/** Where the sparkline toggle is remembered in this browser. */
export const SPARKLINES_STORAGE_KEY = "livews.sparklines";

/** Counters for the benchmark page. */
export interface FeedInstrument {
  received(count: number): void;
  flushed(count: number): void;
}

const QuotesContext = createContext<ReadonlyMap<string, QuoteRow> | null>(null);
const FeedStatusContext = createContext<FeedStatus | null>(null);
const WatchlistContext = createContext<Watchlist | null>(null);
const SelectionContext = createContext<Selection | null>(null);
const BarsContext = createContext<Bars | null>(null);

function useRequired<T>(value: T | null, name: string): T {
  if (value === null) throw new Error(`${name} used outside MarketProvider`);
  return value;
}

export const useQuotes = () => useRequired(useContext(QuotesContext), "useQuotes");
export const useFeedStatus = () => useRequired(useContext(FeedStatusContext), "useFeedStatus");
export const useWatchlist = () => useRequired(useContext(WatchlistContext), "useWatchlist");
export const useSelection = () => useRequired(useContext(SelectionContext), "useSelection");
export const useBars = () => useRequired(useContext(BarsContext), "useBars");

interface MarketProviderProps {
  /** Builds the feed once per signed-in user. */
  createFeed: () => MarketFeed;
  instrument?: FeedInstrument;
  children: ReactNode;
}

const EMPTY_ROWS: ReadonlyMap<string, QuoteRow> = new Map();
const NO_STALE: ReadonlySet<string> = new Set();

/**
 * The market state of a signed-in page: board rows, depth of the selected symbol, feed
 * health and the watchlist. Incoming ticks are coalesced per animation frame before they
 * reach React state, so a render happens at most once a frame however fast ticks come.
 */
export function MarketProvider({ createFeed, instrument, children }: MarketProviderProps) {
  const session = useSession();
  const sub = session.state.status === "signedIn" ? session.state.sub : "";
  const token = session.state.status === "signedIn" ? session.state.token : null;

  const [storage] = useState(browserStorage);
  const [watchlist, setWatchlist] = useState<readonly string[]>(() => loadWatchlist(storage, sub));
  const [rows, setRows] = useState<ReadonlyMap<string, QuoteRow>>(EMPTY_ROWS);
  const [connection, setConnection] = useState<ConnectionState>("connecting");
  const [upstream, setUpstream] = useState<UpstreamStatus | null>(null);
  const [latencyMs, setLatencyMs] = useState<number | null>(null);
  const [stale, setStale] = useState<ReadonlySet<string>>(NO_STALE);
  const [asOf, setAsOf] = useState<number | null>(null);
  const [retryAt, setRetryAt] = useState<number | null>(null);
  // The first symbol is selected from the start, so the chart and depth are never an empty box.
  const [selected, setSelected] = useState<string | null>(() => watchlist[0] ?? null);
  const [bars] = useState(() => new BarStore());
  const [sparklines, setSparklinesState] = useState<boolean>(() => {
    try {
      return storage?.getItem(SPARKLINES_STORAGE_KEY) !== "off";
    } catch {
      return true;
    }
  });
  const [depth, setDepth] = useState<Depth | null>(null);
  const [notices, setNotices] = useState<readonly Notice[]>([]);

  const feedRef = useRef<MarketFeed | null>(null);
  const watchlistRef = useRef(watchlist);
  watchlistRef.current = watchlist;
  const selectedRef = useRef(selected);
  selectedRef.current = selected;
  const sessionRef = useRef(session);
  sessionRef.current = session;
  const rowsRef = useRef(rows);
  rowsRef.current = rows;
  const noticeId = useRef(0);
  // Every timer this provider starts, cleared when it unmounts (sign-out, user change).
  const [timers] = useState(() => new Set<ReturnType<typeof setTimeout>>());
  const later = useCallback(
    (run: () => void, ms: number) => {
      const handle = setTimeout(() => {
        timers.delete(handle);
        run();
      }, ms);
      timers.add(handle);
    },
    [timers],
  );
  useEffect(
    () => () => {
      timers.forEach(clearTimeout);
      timers.clear();
    },
    [timers],
  );

  // One notice per text: the same refusal arriving twice (ack and resubscribe) shows once.
  const notify = useCallback(
    (text: string, action?: Notice["action"]) => {
      const id = ++noticeId.current;
      setNotices((list) => [...list.filter((n) => n.text !== text).slice(-2), { id, text, action }]);
      later(() => setNotices((list) => list.filter((n) => n.id !== id)), NOTICE_TTL_MS);
    },
    [later],
  );

  const updateWatchlist = useCallback(
    (change: (list: readonly string[]) => string[]) => {
      const next = change(watchlistRef.current);
      watchlistRef.current = next;
      setWatchlist(next);
      saveWatchlist(storage, sub, next);
    },
    [storage, sub],
  );

  // The feed lives as long as this provider (one signed-in user).
  useEffect(() => {
    const feed = createFeed();
    feedRef.current = feed;
    const latency = new LatencyWindow(LATENCY_SAMPLES);
    const ticks = new FrameCoalescer<Tick>(
      (t) => t.symbol,
      (incoming, held) => incoming.seq > held.seq,
      (batch) => {
        instrument?.flushed(batch.length);
        const now = Date.now();
        setRows((prev) => mergeTicks(prev, batch, now));
      },
    );
    const depths = new FrameCoalescer<Depth>(
      (d) => d.symbol,
      (incoming, held) => incoming.seq > held.seq,
      (batch) => setDepth((prev) => mergeDepth(prev, batch, selectedRef.current ?? "")),
    );
    let authAttempt = 0;
    // When market data last arrived: what the page shows "as of" while disconnected.
    let lastDataAt: number | null = null;

    const handlers: FeedHandlers = {
      ticks(batch, snapshot) {
        // A snapshot replays the latest known values, which may be minutes old: not latency.
        if (!snapshot) {
          const now = Date.now();
          for (const t of batch) if (t.ingest_ts !== null) latency.add(now - t.ingest_ts);
        }
        instrument?.received(batch.length);
        if (!snapshot) lastDataAt = Date.now();
        ticks.push(batch);
      },
      depth: (batch) => depths.push(batch),
      bars: (batch: Bar[]) => bars.push(batch),
      status: setUpstream,
      connection(state) {
        if (state === "connected") {
          authAttempt = 0;
          setAsOf(null);
          setRetryAt(null);
        } else if (state !== "connecting") {
          setAsOf(lastDataAt);
        }
        setConnection(state);
      },
      retryAt: setRetryAt,
      rejected(rejections: Rejection[], mode: SubscriptionMode) {
        // Only a symbol the upstream does not know leaves the watchlist; one refused for a
        // limit (too_many_subscriptions) stays saved for a later page with room for it.
        const symbols = rejections.filter((r) => r.code === "invalid_symbol").map((r) => r.symbol);
        if (mode === "quote" && symbols.some((s) => watchlistRef.current.includes(s))) {
          updateWatchlist((list) => withoutSymbols(list, symbols));
        }
        // A chart or sparkline that cannot be had simply stays empty; quotes and depth say why.
        if (mode === "bars") return;
        for (const r of rejections) notify(rejectionText(r, mode));
      },
      expiring: () => void sessionRef.current.renew(),
      authProblem() {
        // Renewing rotates the refresh cookie; back off so a gateway that keeps refusing
        // does not turn into a loop against the auth service.
        const delay = authAttempt === 0 ? 0 : backoffMs(authAttempt - 1);
        authAttempt += 1;
        later(() => void sessionRef.current.renew(), delay);
      },
      bye(bye) {
        const text = byeText(bye.code);
        if (text !== null) notify(text);
      },
    };
    feed.start(handlers);
    feed.setQuotes(watchlistRef.current);

    const housekeeping = setInterval(() => {
      setLatencyMs(latency.median());
      setStale((prev) => staleSymbols(rowsRef.current, Date.now(), STALE_AFTER_MS, prev));
    }, HOUSEKEEPING_INTERVAL_MS);

    return () => {
      clearInterval(housekeeping);
      ticks.cancel();
      depths.cancel();
      feed.stop();
      feedRef.current = null;
    };
  }, [createFeed, instrument, later, notify, updateWatchlist, bars]);

  // A renewed token goes to the live connection (or opens one that waited for it).
  useEffect(() => {
    if (token !== null && token !== "") void feedRef.current?.refreshAuth(token);
  }, [token]);

  useEffect(() => {
    // Indices have no order book: nothing to subscribe.
    feedRef.current?.setFocus?.(selected);
    feedRef.current?.setDepth(selected !== null && !isIndexSymbol(selected) ? selected : null);
    setDepth(null);
  }, [selected]);

  // Bars for the chart (the selected symbol) and, with sparklines on, for every row.
  useEffect(() => {
    const wanted = sparklines ? [...watchlist] : [];
    if (selected !== null && !wanted.includes(selected)) wanted.push(selected);
    feedRef.current?.setBars?.(wanted);
  }, [selected, sparklines, watchlist]);

  const setSparklines = useCallback(
    (on: boolean) => {
      setSparklinesState(on);
      try {
        storage?.setItem(SPARKLINES_STORAGE_KEY, on ? "on" : "off");
      } catch {
        // storage blocked: the choice lasts for this page
      }
    },
    [storage],
  );

  const add = useCallback(
    async (symbol: string): Promise<AddResult> => {
      if (watchlistRef.current.includes(symbol)) return "exists";
      const feed = feedRef.current;
      if (feed === null) return "invalid";
      const ack = await feed.addQuotes([symbol]);
      if (ack !== null && (ack.rejected ?? []).some((r) => r.symbol === symbol)) return "rejected";
      if (ack !== null && !ack.ok) return "rejected";
      updateWatchlist((list) => withSymbol(list, symbol));
      return "added";
    },
    [updateWatchlist],
  );

  const remove = useCallback(
    (symbol: string) => {
      const index = watchlistRef.current.indexOf(symbol);
      if (index < 0) return;
      feedRef.current?.removeQuotes([symbol]);
      updateWatchlist((list) => withoutSymbols(list, [symbol]));
      notify(`Removed ${displayName(symbol)}`, {
        label: "Undo",
        run() {
          void feedRef.current?.addQuotes([symbol]);
          updateWatchlist((list) => withSymbol(list, symbol, index));
        },
      });
      setRows((prev) => {
        if (!prev.has(symbol)) return prev;
        const next = new Map(prev);
        next.delete(symbol);
        return next;
      });
      if (selectedRef.current === symbol) setSelected(null);
    },
    [updateWatchlist, notify],
  );

  const dismiss = useCallback((id: number) => setNotices((list) => list.filter((n) => n.id !== id)), []);

  const status = useMemo<FeedStatus>(
    () => ({ connection, upstream, latencyMs, stale, asOf, retryAt }),
    [connection, upstream, latencyMs, stale, asOf, retryAt],
  );
  const watch = useMemo<Watchlist>(
    () => ({ symbols: watchlist, add, remove, notices, dismiss }),
    [watchlist, add, remove, notices, dismiss],
  );
  const selection = useMemo<Selection>(() => ({ selected, select: setSelected, depth }), [selected, depth]);
  const barsValue = useMemo<Bars>(() => ({ store: bars, sparklines, setSparklines }), [bars, sparklines, setSparklines]);

  return (
    <FeedStatusContext.Provider value={status}>
      <WatchlistContext.Provider value={watch}>
        <SelectionContext.Provider value={selection}>
          <BarsContext.Provider value={barsValue}>
            <QuotesContext.Provider value={rows}>{children}</QuotesContext.Provider>
          </BarsContext.Provider>
        </SelectionContext.Provider>
      </WatchlistContext.Provider>
    </FeedStatusContext.Provider>
  );
}
