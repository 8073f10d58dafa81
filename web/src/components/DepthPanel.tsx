import styled from "styled-components";
import { formatPrice, formatQuantity } from "../format/numbers";
import { useSelection } from "../market/MarketContext";
import type { DepthLevel } from "../market/types";
import { displayName, isIndexSymbol } from "../market/universe";

const Panel = styled.aside`
  padding: 12px;
  border-radius: 8px;
  border: 1px solid ${({ theme }) => theme.colors.border};
  background: ${({ theme }) => theme.colors.surface};
  h2 { margin: 0 0 8px; font-size: 15px; }
  p { margin: 0; color: ${({ theme }) => theme.colors.textMuted}; }
`;

/** Bids beside asks where there is room (full-width panel), bids above asks in the side column. */
const Sides = styled.div`
  display: grid;
  grid-template-columns: repeat(auto-fit, minmax(190px, 1fr));
  gap: 8px 16px;
`;

const Side = styled.table<{ $side: "bid" | "ask" }>`
  width: 100%;
  border-collapse: collapse;
  font-variant-numeric: tabular-nums;
  font-size: 13px;
  caption { text-align: left; font-weight: 600; padding-bottom: 4px; color: ${({ theme, $side }) => ($side === "bid" ? theme.colors.up : theme.colors.down)}; }
  th { font-weight: 500; color: ${({ theme }) => theme.colors.textMuted}; font-size: 12px; }
  th, td { padding: 3px 4px; text-align: right; }
  td { position: relative; }
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
`;

function DepthSide({ side, levels, maxQty }: { side: "bid" | "ask"; levels: DepthLevel[]; maxQty: number }) {
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
        {levels.slice(0, 5).map(([price, qty, orders], i) => (
          <tr key={i} data-testid={`depth-${side}`}>
            <td>{formatPrice(price)}</td>
            <td>
              <span className="bar" style={{ width: `${maxQty > 0 ? (qty / maxQty) * 100 : 0}%` }} />
              <span className="qty">{formatQuantity(qty)}</span>
            </td>
            <td>{formatQuantity(orders)}</td>
          </tr>
        ))}
      </tbody>
    </Side>
  );
}

/** Five levels each side for the selected symbol; only that symbol's depth is subscribed. */
export function DepthPanel() {
  const { selected, depth } = useSelection();
  const current = depth !== null && depth.symbol === selected ? depth : null;
  const maxQty = current ? Math.max(0, ...current.bids.map((l) => l[1]), ...current.asks.map((l) => l[1])) : 0;
  return (
    <Panel data-testid="depth-panel" data-symbol={selected ?? undefined} aria-live="off">
      <h2>{selected ? `Depth · ${displayName(selected)}` : "Market depth"}</h2>
      {selected === null && <p>Select a row (click, or Enter on a focused row) to see five levels each side.</p>}
      {selected !== null && isIndexSymbol(selected) && <p>Indices have no order book.</p>}
      {selected !== null && !isIndexSymbol(selected) && current === null && (
        <p data-testid="depth-waiting">Waiting for depth…</p>
      )}
      {current !== null && (
        <Sides>
          <DepthSide side="bid" levels={current.bids} maxQty={maxQty} />
          <DepthSide side="ask" levels={current.asks} maxQty={maxQty} />
        </Sides>
      )}
    </Panel>
  );
}
