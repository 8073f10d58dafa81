import { lazy, Suspense, useCallback, useEffect, useState } from "react";
import styled from "styled-components";
import { formatTitle } from "../format/numbers";
import { DEFAULT_QUERY, nextSort, type BoardQuery, type QuickFilter, type SortKey } from "../market/boardQuery";
import { useFeedStatus, useQuotes, useSelection, useWatchlist } from "../market/MarketContext";
import { displayName, NIFTY50_INDEX } from "../market/universe";
import { Board } from "./Board";
import { BoardToolbar } from "./BoardToolbar";
import { ConnectionBanner, isDisconnected } from "./ConnectionBanner";
import { DepthPanel } from "./DepthPanel";
import { Header } from "./Header";
import { Notices } from "./Notices";

// The chart library is most of the page's JavaScript: it loads in its own chunk, after the board.
const ChartPanel = lazy(() => import("./ChartPanel").then((m) => ({ default: m.ChartPanel })));

const ChartPlaceholder = styled.div`
  height: 280px;
  border-radius: 8px;
  border: 1px solid ${({ theme }) => theme.colors.border};
  background: ${({ theme }) => theme.colors.surface};
  @media (max-width: 700px) { height: 240px; }
`;

/** While the connection is down the prices are old: the board and the index strip say so by fading. */
const Page = styled.div`
  [data-testid="board"], [data-testid="index-strip"] { transition: opacity 0.15s, filter 0.15s; }
  &[data-connection="down"] [data-testid="board"],
  &[data-connection="down"] [data-testid="index-strip"] {
    opacity: 0.45;
    filter: grayscale(0.8);
  }
`;

const Main = styled.main`
  display: grid;
  gap: 8px;
  padding: 8px 16px;
  @media (max-width: 700px) { padding: 6px 8px 16px; }
`;

const Columns = styled.div`
  display: grid;
  grid-template-columns: minmax(0, 1fr) 340px;
  gap: 8px;
  align-items: start;
  @media (min-width: 1500px) { grid-template-columns: minmax(0, 1fr) 400px; }
  /* The chart and depth go below the board when the board would lose its columns. */
  @media (max-width: 1340px) { grid-template-columns: minmax(0, 1fr); }
`;

const Side = styled.div`
  display: grid;
  gap: 8px;
  min-width: 0;
  @media (max-width: 1340px) and (min-width: 701px) { grid-template-columns: minmax(0, 3fr) minmax(0, 2fr); }
`;

/** The tab's title follows the selected symbol, else NIFTY 50: "NIFTY 50 25,986.35 ▼0.24%". */
function TabTitle() {
  const rows = useQuotes();
  const { selected } = useSelection();
  const { symbols } = useWatchlist();
  const symbol = selected ?? (symbols.includes(NIFTY50_INDEX) ? NIFTY50_INDEX : symbols[0] ?? null);
  const tick = symbol === null ? undefined : rows.get(symbol)?.tick;
  const title = formatTitle(symbol === null ? null : displayName(symbol), tick?.ltp ?? null, tick?.change_pct ?? null);
  useEffect(() => {
    if (document.title !== title) document.title = title;
  }, [title]);
  return null;
}

/** The signed-in page: header (with the index strip), toolbar, the board, the chart and depth. */
export function Dashboard() {
  const [query, setQuery] = useState<BoardQuery>(DEFAULT_QUERY);
  const onText = useCallback((text: string) => setQuery((q) => ({ ...q, text })), []);
  const onQuick = useCallback((quick: QuickFilter) => setQuery((q) => ({ ...q, quick })), []);
  const onSort = useCallback((key: SortKey) => setQuery((q) => ({ ...q, sort: nextSort(q.sort, key) })), []);
  const down = isDisconnected(useFeedStatus());

  return (
    <Page data-connection={down ? "down" : "up"} data-testid="dashboard">
      <ConnectionBanner />
      <Header />
      <Main>
        <BoardToolbar text={query.text} quick={query.quick} onText={onText} onQuick={onQuick} />
        <Columns>
          <Board query={query} onSort={onSort} />
          <Side>
            <Suspense fallback={<ChartPlaceholder />}>
              <ChartPanel />
            </Suspense>
            <DepthPanel />
          </Side>
        </Columns>
      </Main>
      <Notices />
      <TabTitle />
    </Page>
  );
}
