import { useEffect, useRef, useState, type RefObject } from "react";
import styled from "styled-components";
import { selectBoard, type BoardQuery, type SortKey } from "../market/boardQuery";
import { useBars, useFeedStatus, useQuotes, useSelection, useWatchlist } from "../market/MarketContext";
import { BoardRow } from "./BoardRow";
import { COLUMNS, GRID_COLUMNS } from "./columns";
import { OFFSCREEN_REFRESH_MS, rowsToShow, sameRange, visibleRows, type RowRange, type ShownRow } from "./rowWindow";

/** Row height (px): about 30 rows fit a 1440 × 900 laptop screen. */
export const ROW_HEIGHT = 26;

/**
 * A lean grid rather than a <table>: every row is its own CSS grid on a fixed template with
 * layout and paint containment, and rows scrolled out of view are skipped by the browser
 * (`content-visibility: auto`). A price change then costs one cell's layout and paint instead
 * of a table-wide relayout. Semantics come from ARIA grid roles.
 */
const Grid = styled.div`
  --cols: ${GRID_COLUMNS.wide};
  --cols-min: ${GRID_COLUMNS.wideMinPx}px;
  &[data-spark] {
    --cols: ${GRID_COLUMNS.wideSpark};
    --cols-min: ${GRID_COLUMNS.wideSparkMinPx}px;
  }
  overflow: auto;
  /* The board fills the screen below the header and toolbar, and scrolls inside itself. */
  max-height: calc(100vh - 104px);
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
  /* Cells do not clip (the columns are sized for their numbers, and the row clips its own
     paint): a clipping box per cell made layerisation, run every frame, about 2.5 times dearer. */
  .row > div {
    padding: 0 6px;
    text-align: right;
    white-space: nowrap;
  }
  .row > div:first-child { text-align: left; }
  .row > div[data-col="remove"], .row > div[data-col="spark"] { padding: 0; text-align: center; }
  /* The name takes what it needs; the stale mark has its own fixed slot after it. */
  .row > div[data-col="symbol"] { display: flex; align-items: center; gap: 2px; }
  [data-col="symbol"] .name { min-width: 0; overflow: hidden; text-overflow: ellipsis; }
  [data-col="symbol"] .mark { flex: 0 0 14px; display: inline-flex; justify-content: center; }
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
  .row[data-stale] { background: ${({ theme }) => theme.colors.staleTint}; }
  .row[data-stale] > div:not([data-col="symbol"]) { opacity: 0.55; }
  [data-col="symbol"] .name { font-weight: 600; }
  [data-dir="up"] { color: ${({ theme }) => theme.colors.up}; }
  [data-dir="down"] { color: ${({ theme }) => theme.colors.down}; }
  .stale {
    display: block;
    width: 10px;
    height: 10px;
    border-radius: 50%;
    border: 2px solid ${({ theme }) => theme.colors.warning};
    border-top-color: transparent;
  }
  .spark { display: block; margin: 0 auto; color: ${({ theme }) => theme.colors.textMuted}; }
  .spark[data-dir="up"] { color: ${({ theme }) => theme.colors.up}; }
  .spark[data-dir="down"] { color: ${({ theme }) => theme.colors.down}; }
  /* A flash is a class set and taken off again (flashes.ts), not an animation. */
  .flash-up, .flash-down { border-radius: 3px; padding: 1px 3px; margin: -1px -3px; }
  .flash-up { background-color: var(--flash-up); }
  .flash-down { background-color: var(--flash-down); }
  @media (prefers-reduced-motion: reduce) {
    .flash-up, .flash-down { background-color: transparent; }
  }
  /* The × shows on the row under the pointer, the focused row and the selected one (always on touch). */
  .body .row .remove { opacity: 0; }
  .body .row:hover .remove, .body .row:focus-within .remove, .body .row[aria-selected="true"] .remove { opacity: 1; }
  @media (hover: none) { .body .row .remove { opacity: 1; } }
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
    /* Also over the sparkline template (more specific): phones show no sparkline column. */
    &, &[data-spark] {
      --cols: ${GRID_COLUMNS.narrow};
      --cols-min: ${GRID_COLUMNS.narrowMinPx}px;
    }
    /* No scrolling inside the page: the board is as long as it is, the page scrolls. */
    max-height: none;
    overflow: visible;
    overflow-x: clip;
    contain: none;
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

/**
 * Which rows are in view: from the board's scroll position (laptop: the board scrolls inside
 * itself) or the page's (phone: the page scrolls), at most once a frame. Null until known, or
 * where there is no layout (jsdom).
 */
function useRowsInView(grid: RefObject<HTMLDivElement | null>, body: RefObject<HTMLDivElement | null>, count: number): RowRange {
  const [range, setRange] = useState<RowRange>(null);
  useEffect(() => {
    let frame: number | null = null;
    const measure = () => {
      frame = null;
      if (!grid.current || !body.current) return;
      const box = grid.current.getBoundingClientRect();
      const next = visibleRows(
        Math.max(box.top, 0),
        Math.min(box.bottom, window.innerHeight),
        body.current.getBoundingClientRect().top,
        ROW_HEIGHT,
        count,
      );
      setRange((held) => (sameRange(held, next) ? held : next));
    };
    const schedule = () => {
      if (frame === null) frame = requestAnimationFrame(measure);
    };
    measure();
    const element = grid.current;
    element?.addEventListener("scroll", schedule, { passive: true });
    window.addEventListener("scroll", schedule, { passive: true });
    window.addEventListener("resize", schedule);
    return () => {
      if (frame !== null) cancelAnimationFrame(frame);
      element?.removeEventListener("scroll", schedule);
      window.removeEventListener("scroll", schedule);
      window.removeEventListener("resize", schedule);
    };
  }, [grid, body, count]);
  return range;
}

/**
 * The watchlist as a grid: one memoized row per symbol, sortable headers. Rows in view get
 * every new tick; rows scrolled out of view stay in the DOM but are brought up to date about
 * once a second (`rowWindow.ts`), so most rows do not re-render on every tick. Filters and
 * sorting work on what the rows show.
 */
export function Board({ query, onSort }: BoardProps) {
  const rows = useQuotes();
  const { symbols, remove } = useWatchlist();
  const { stale } = useFeedStatus();
  const { selected, select } = useSelection();
  const { sparklines } = useBars();
  const grid = useRef<HTMLDivElement>(null);
  const body = useRef<HTMLDivElement>(null);
  const inView = useRowsInView(grid, body, symbols.length);
  const shown = useRef(new Map<string, ShownRow>());
  const position = useRef(new Map<string, number>());
  const { rows: showing, holding } = rowsToShow(symbols, rows, shown.current, position.current, inView, performance.now());
  const entries = selectBoard(symbols, showing, query);
  position.current = new Map(entries.map((entry, index) => [entry.symbol, index]));
  // A row out of view holding back a tick gets it within a second even if no other tick comes.
  const [, setCatchUp] = useState(0);
  useEffect(() => {
    if (!holding) return;
    const timer = setTimeout(() => setCatchUp((n) => n + 1), OFFSCREEN_REFRESH_MS);
    return () => clearTimeout(timer);
  });

  return (
    <Grid
      ref={grid}
      role="grid"
      aria-label="Watchlist"
      aria-rowcount={entries.length + 1}
      data-testid="board"
      data-spark={sparklines ? "" : undefined}
    >
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
          {sparklines && (
            <div role="columnheader" data-col="spark" data-wide="">
              <span title="Today, from one-minute bars">Day</span>
            </div>
          )}
          <div role="columnheader">
            <span className="visually-hidden">Remove</span>
          </div>
        </div>
      </div>
      <div role="rowgroup" className="body" ref={body}>
        {entries.map((entry) => (
          <BoardRow
            key={entry.symbol}
            symbol={entry.symbol}
            row={entry.row}
            stale={stale.has(entry.symbol)}
            selected={selected === entry.symbol}
            spark={sparklines}
            onSelect={select}
            onRemove={remove}
          />
        ))}
      </div>
      {entries.length === 0 && <Empty data-testid="board-empty">No symbols match.</Empty>}
    </Grid>
  );
}
