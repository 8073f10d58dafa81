import { useMemo } from "react";
import styled from "styled-components";
import { selectBoard, type BoardQuery, type SortKey } from "../market/boardQuery";
import { useFeedStatus, useQuotes, useSelection, useWatchlist } from "../market/MarketContext";
import { BoardRow } from "./BoardRow";
import { COLUMNS } from "./columns";

const Scroller = styled.div`
  overflow: auto;
  max-height: calc(100vh - 230px);
  min-height: 240px;
  border: 1px solid ${({ theme }) => theme.colors.border};
  border-radius: 8px;
  background: ${({ theme }) => theme.colors.surface};
  @media (max-width: 700px) { max-height: none; }
`;

const Table = styled.table`
  width: 100%;
  border-collapse: collapse;
  font-variant-numeric: tabular-nums;
  th, td {
    padding: 6px 8px;
    text-align: right;
    white-space: nowrap;
    border-bottom: 1px solid ${({ theme }) => theme.colors.border};
  }
  th:first-child, td:first-child { text-align: left; }
  thead th {
    position: sticky;
    top: 0;
    z-index: 1;
    background: ${({ theme }) => theme.colors.surfaceAlt};
    font-weight: 600;
  }
  th button {
    all: unset;
    cursor: pointer;
    border-radius: 4px;
    &:focus-visible { outline: 2px solid ${({ theme }) => theme.colors.focus}; }
  }
  tbody tr { cursor: pointer; }
  tbody tr:hover { background: ${({ theme }) => theme.colors.surfaceAlt}; }
  tbody tr[aria-selected="true"] { background: ${({ theme }) => theme.colors.selected}; }
  tbody tr:focus-visible { outline-offset: -2px; }
  tr[data-stale] td:not([data-col="symbol"]) { opacity: 0.55; }
  td[data-col="symbol"] .name { font-weight: 600; }
  td[data-dir="up"] { color: ${({ theme }) => theme.colors.up}; }
  td[data-dir="down"] { color: ${({ theme }) => theme.colors.down}; }
  .stale {
    margin-left: 6px;
    padding: 0 5px;
    border-radius: 4px;
    font-size: 11px;
    color: ${({ theme }) => theme.colors.warning};
    border: 1px solid currentColor;
  }
  .flash-up, .flash-down { border-radius: 3px; padding: 1px 3px; margin: -1px -3px; }
  .flash-up { animation: flash-up 0.7s ease-out; }
  .flash-down { animation: flash-down 0.7s ease-out; }
  @media (prefers-reduced-motion: reduce) {
    .flash-up, .flash-down { animation: none; }
  }
  .remove {
    all: unset;
    cursor: pointer;
    padding: 0 6px;
    border-radius: 4px;
    color: ${({ theme }) => theme.colors.textMuted};
    &:hover { color: ${({ theme }) => theme.colors.danger}; }
    &:focus-visible { outline: 2px solid ${({ theme }) => theme.colors.focus}; }
  }
  @media (max-width: 700px) {
    [data-wide] { display: none; }
    th, td { padding: 6px 6px; }
  }
`;

const Empty = styled.p`
  padding: 24px;
  text-align: center;
  color: ${({ theme }) => theme.colors.textMuted};
`;

interface BoardProps {
  query: BoardQuery;
  onSort(key: SortKey): void;
}

/** The watchlist as a table: one memoized row per symbol, sortable headers. */
export function Board({ query, onSort }: BoardProps) {
  const rows = useQuotes();
  const { symbols, remove } = useWatchlist();
  const { stale } = useFeedStatus();
  const { selected, select } = useSelection();
  const entries = useMemo(() => selectBoard(symbols, rows, query), [symbols, rows, query]);

  return (
    <Scroller>
      <Table data-testid="board" aria-label="Watchlist">
        <thead>
          <tr>
            {COLUMNS.map((column) => {
              const sorted = query.sort?.key === column.key ? query.sort.direction : null;
              return (
                <th
                  key={column.key}
                  scope="col"
                  data-wide={column.wide ? "" : undefined}
                  aria-sort={sorted === "asc" ? "ascending" : sorted === "desc" ? "descending" : "none"}
                >
                  <button type="button" onClick={() => onSort(column.key)} data-testid={`sort-${column.key}`}>
                    {column.label}
                    <span aria-hidden="true">{sorted === "asc" ? " ▲" : sorted === "desc" ? " ▼" : ""}</span>
                  </button>
                </th>
              );
            })}
            <th scope="col">
              <span className="visually-hidden">Remove</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {entries.map((entry) => (
            <BoardRow
              key={entry.symbol}
              symbol={entry.symbol}
              row={entry.row}
              stale={stale.has(entry.symbol)}
              selected={selected === entry.symbol}
              onSelect={select}
              onRemove={remove}
            />
          ))}
        </tbody>
      </Table>
      {entries.length === 0 && <Empty data-testid="board-empty">No symbols match.</Empty>}
    </Scroller>
  );
}
