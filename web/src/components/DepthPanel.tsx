import { memo } from "react";
import styled from "styled-components";
import { formatPercent, formatPrice, formatQuantity } from "../format/numbers";
import { depthView } from "../market/depthSummary";
import { useQuotes, useSelection } from "../market/MarketContext";
import type { Depth, DepthLevel, Tick } from "../market/types";
import { displayName, isIndexSymbol } from "../market/universe";

const LEVELS = 5;

/* Depth changes many times a second: its layout and paint stay inside the panel. */
const Panel = styled.aside`
  contain: content;
  padding: 8px 12px;
  border-radius: 8px;
  border: 1px solid ${({ theme }) => theme.colors.border};
  background: ${({ theme }) => theme.colors.surface};
  h2 { margin: 0 0 6px; font-size: 14px; display: flex; justify-content: space-between; gap: 8px; }
  h2 small { font-weight: 400; color: ${({ theme }) => theme.colors.textMuted}; font-variant-numeric: tabular-nums; }
  p { margin: 0; color: ${({ theme }) => theme.colors.textMuted}; }
`;

/** Bids beside asks; the panel keeps its height while levels arrive. */
const Sides = styled.div`
  display: grid;
  grid-template-columns: repeat(auto-fit, minmax(150px, 1fr));
  gap: 4px 12px;
`;

const Side = styled.table<{ $side: "bid" | "ask" }>`
  width: 100%;
  border-collapse: collapse;
  font-variant-numeric: tabular-nums;
  font-size: 13px;
  caption { text-align: left; font-weight: 600; padding-bottom: 2px; color: ${({ theme, $side }) => ($side === "bid" ? theme.colors.up : theme.colors.down)}; }
  th { font-weight: 500; color: ${({ theme }) => theme.colors.textMuted}; font-size: 12px; }
  th, td { padding: 1px 4px; height: 22px; text-align: right; }
  td { position: relative; }
  tfoot td { border-top: 1px solid ${({ theme }) => theme.colors.border}; font-weight: 600; }
  td .bar {
    position: absolute;
    top: 2px;
    bottom: 2px;
    right: 0;
    opacity: 0.18;
    background: ${({ theme, $side }) => ($side === "bid" ? theme.colors.up : theme.colors.down)};
    pointer-events: none;
  }
  td .qty { position: relative; }
  tr[data-pending] td { color: ${({ theme }) => theme.colors.textMuted}; }
`;

function DepthSide(props: { side: "bid" | "ask"; levels: DepthLevel[]; maxQty: number; total: number | null; topOnly: boolean }) {
  const { side, levels, maxQty, total, topOnly } = props;
  const pending = Math.max(0, LEVELS - levels.length);
  return (
    <Side $side={side} data-testid={`depth-${side}s`}>
      <caption>{side === "bid" ? "Bids" : "Asks"}</caption>
      <thead>
        <tr>
          <th scope="col">Price</th>
          <th scope="col">Qty</th>
          <th scope="col">Orders</th>
        </tr>
      </thead>
      <tbody>
        {levels.map(([price, qty, orders], i) => (
          // The quote's best level stands in until depth comes: not yet a depth row.
          <tr key={i} data-testid={topOnly ? `quote-${side}` : `depth-${side}`}>
            <td>{formatPrice(price)}</td>
            <td>
              <span className="bar" style={{ width: `${maxQty > 0 ? (qty / maxQty) * 100 : 0}%` }} />
              <span className="qty">{formatQuantity(qty)}</span>
            </td>
            <td>{topOnly ? "—" : formatQuantity(orders)}</td>
          </tr>
        ))}
        {Array.from({ length: pending }, (_, i) => (
          <tr key={`pending-${i}`} data-pending="">
            <td>—</td>
            <td>—</td>
            <td>—</td>
          </tr>
        ))}
      </tbody>
      <tfoot>
        <tr data-testid={`depth-${side}-total`}>
          <td>Total</td>
          <td>{topOnly ? "—" : formatQuantity(total)}</td>
          <td />
        </tr>
      </tfoot>
    </Side>
  );
}

/**
 * Five levels each side for the selected symbol, with totals and the spread; only that
 * symbol's depth is subscribed. Until the depth answers, the quote's best bid and ask show.
 */
export function DepthPanel() {
  const { selected, depth } = useSelection();
  // The board changes every frame; the panel re-renders only when its own symbol's tick does.
  const tick = useQuotes().get(selected ?? "")?.tick;
  return <DepthContent selected={selected} depth={depth} tick={tick} />;
}

const DepthContent = memo(function DepthContent(props: { selected: string | null; depth: Depth | null; tick: Tick | undefined }) {
  const { selected, depth, tick } = props;
  const current = depth !== null && depth.symbol === selected ? depth : null;
  const view = selected !== null && !isIndexSymbol(selected) ? depthView(current, tick) : null;
  const maxQty = view ? Math.max(0, ...view.bids.map((l) => l[1]), ...view.asks.map((l) => l[1])) : 0;
  return (
    <Panel
      data-testid="depth-panel"
      data-symbol={selected ?? undefined}
      data-state={view === null ? "none" : view.topOnly ? "quote" : "depth"}
      aria-live="off"
    >
      <h2>
        <span>{selected ? `Depth · ${displayName(selected)}` : "Market depth"}</span>
        {view !== null && (
          <small data-testid="depth-spread">
            spread {formatPrice(view.spread)} ({formatPercent(view.spreadPct).replace(/^\+/, "")})
          </small>
        )}
      </h2>
      {selected === null && <p>Select a row to see five levels each side.</p>}
      {selected !== null && isIndexSymbol(selected) && <p>Indices have no order book.</p>}
      {selected !== null && !isIndexSymbol(selected) && view === null && <p data-testid="depth-waiting">No quote yet.</p>}
      {view !== null && (
        <Sides>
          <DepthSide side="bid" levels={view.bids} maxQty={maxQty} total={view.bidTotal} topOnly={view.topOnly} />
          <DepthSide side="ask" levels={view.asks} maxQty={maxQty} total={view.askTotal} topOnly={view.topOnly} />
        </Sides>
      )}
    </Panel>
  );
});
