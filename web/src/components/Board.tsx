import { useMemo } from "react";
import styled from "styled-components";
import { selectBoard, type BoardQuery, type SortKey } from "../market/boardQuery";
import { useFeedStatus, useQuotes, useSelection, useWatchlist } from "../market/MarketContext";
import { BoardRow } from "./BoardRow";
import { COLUMNS, GRID_COLUMNS } from "./columns";

const ROW_HEIGHT = 33;

/**
 * A lean grid rather than a <table>: every row is its own CSS grid on a fixed template with
 * layout and paint containment, and rows scrolled out of view are skipped by the browser
 * (`content-visibility: auto`). A price change then costs one cell's layout and paint instead
 * of a table-wide relayout. Semantics come from ARIA grid roles.
 */
const Grid = styled.div`
  --cols: ${GRID_COLUMNS.wide};
  --cols-min: ${GRID_COLUMNS.wideMinPx}px;
  overflow: auto;
  max-height: calc(100vh - 230px);
  min-height: 240px;
  border: 1px solid ${({ theme }) => theme.colors.border};
  border-radius: 8px;
  background: ${({ theme }) => theme.colors.surface};
  font-variant-numeric: tabular-nums;
  contain: content;

  .row {
    display: grid;
    grid-template-columns: var(--cols);
    /* Rows contain their paint, so they must be as wide as their columns need. */
    min-width: max(100%, var(--cols-min));
    height: ${ROW_HEIGHT}px;
    align-items: center;
    border-bottom: 1px solid ${({ theme }) => theme.colors.border};
    contain: strict;
    content-visibility: auto;
    contain-intrinsic-size: auto ${ROW_HEIGHT}px;
  }
  .row > div {
    padding: 0 6px;
    text-align: right;
    white-space: nowrap;
    overflow: hidden;
    text-overflow: ellipsis;
  }
  .row > div:first-child { text-align: left; }
  .row > div[data-col="remove"] { padding: 0; text-align: center; text-overflow: clip; }
  .head {
    position: sticky;
    top: 0;
    z-index: 1;
    background: ${({ theme }) => theme.colors.surfaceAlt};
    font-weight: 600;
    content-visibility: visible;
  }
  .head button {
    all: unset;
    cursor: pointer;
    border-radius: 4px;
    &:focus-visible { outline: 2px solid ${({ theme }) => theme.colors.focus}; }
  }
  .body .row { cursor: pointer; }
  .body .row:hover { background: ${({ theme }) => theme.colors.surfaceAlt}; }
  .body .row[aria-selected="true"] { background: ${({ theme }) => theme.colors.selected}; }
  .body .row:focus-visible { outline-offset: -2px; }
  .row[data-stale] > div:not([data-col="symbol"]) { opacity: 0.55; }
  [data-col="symbol"] .name { font-weight: 600; }
  [data-dir="up"] { color: ${({ theme }) => theme.colors.up}; }
  [data-dir="down"] { color: ${({ theme }) => theme.colors.down}; }
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
    --cols: ${GRID_COLUMNS.narrow};
    --cols-min: ${GRID_COLUMNS.narrowMinPx}px;
    /* Still bounded, so the depth panel below is a short scroll away. */
    max-height: 65vh;
    font-size: 13px;
    [data-wide] { display: none; }
    .row > div { padding: 0 4px; }
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

/** The watchlist as a grid: one memoized row per symbol, sortable headers. */
export function Board({ query, onSort }: BoardProps) {
  const rows = useQuotes();
  const { symbols, remove } = useWatchlist();
  const { stale } = useFeedStatus();
  const { selected, select } = useSelection();
  const entries = useMemo(() => selectBoard(symbols, rows, query), [symbols, rows, query]);

  return (
    <Grid role="grid" aria-label="Watchlist" aria-rowcount={entries.length + 1} data-testid="board">
      <div role="rowgroup" className="head">
        <div role="row" className="row">
          {COLUMNS.map((column) => {
            const sorted = query.sort?.key === column.key ? query.sort.direction : null;
            return (
              <div
                key={column.key}
                role="columnheader"
                data-col={column.key}
                data-wide={column.wide ? "" : undefined}
                aria-sort={sorted === "asc" ? "ascending" : sorted === "desc" ? "descending" : "none"}
              >
                <button type="button" onClick={() => onSort(column.key)} data-testid={`sort-${column.key}`}>
                  {column.label}
                  <span aria-hidden="true">{sorted === "asc" ? " ▲" : sorted === "desc" ? " ▼" : ""}</span>
                </button>
              </div>
            );
          })}
          <div role="columnheader">
            <span className="visually-hidden">Remove</span>
          </div>
        </div>
      </div>
      <div role="rowgroup" className="body">
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
      </div>
      {entries.length === 0 && <Empty data-testid="board-empty">No symbols match.</Empty>}
    </Grid>
  );
}
