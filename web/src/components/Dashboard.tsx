import { useCallback, useState } from "react";
import styled from "styled-components";
import { DEFAULT_QUERY, nextSort, type BoardQuery, type QuickFilter, type SortKey } from "../market/boardQuery";
import { Board } from "./Board";
import { BoardToolbar } from "./BoardToolbar";
import { DepthPanel } from "./DepthPanel";
import { Header } from "./Header";
import { IndexCards } from "./IndexCards";
import { Notices } from "./Notices";

const Main = styled.main`
  display: grid;
  gap: 12px;
  padding: 12px 16px 24px;
  @media (max-width: 480px) { padding: 8px 8px 16px; }
`;

const Columns = styled.div`
  display: grid;
  grid-template-columns: minmax(0, 1fr) 300px;
  gap: 12px;
  align-items: start;
  /* The depth panel goes below the board when the board would lose its columns (970 px). */
  @media (max-width: 1300px) { grid-template-columns: minmax(0, 1fr); }
`;

/** The signed-in page: header, index cards, toolbar, the board and the depth panel. */
export function Dashboard() {
  const [query, setQuery] = useState<BoardQuery>(DEFAULT_QUERY);
  const onText = useCallback((text: string) => setQuery((q) => ({ ...q, text })), []);
  const onQuick = useCallback((quick: QuickFilter) => setQuery((q) => ({ ...q, quick })), []);
  const onSort = useCallback((key: SortKey) => setQuery((q) => ({ ...q, sort: nextSort(q.sort, key) })), []);

  return (
    <>
      <Header />
      <Main>
        <IndexCards />
        <BoardToolbar text={query.text} quick={query.quick} onText={onText} onQuick={onQuick} />
        <Notices />
        <Columns>
          <Board query={query} onSort={onSort} />
          <DepthPanel />
        </Columns>
      </Main>
    </>
  );
}
