import styled from "styled-components";
import { useFeedStatus } from "../market/MarketContext";
import type { MarketSession } from "../market/types";

/** What the header says of the exchange session; nothing while it is open (or unknown). */
export function marketLabel(market: MarketSession | null | undefined): string | null {
  if (market === "closed") return "Market closed";
  if (market === "pre_open") return "Pre-open";
  return null;
}

const Tag = styled.span`
  padding: 3px 10px;
  border-radius: 999px;
  font-size: 13px;
  font-weight: 600;
  color: ${({ theme }) => theme.colors.warning};
  border: 1px dashed currentColor;
`;

/** "Market closed" / "Pre-open" next to the status badge: quiet prices are then expected. */
export function MarketIndicator() {
  const { upstream } = useFeedStatus();
  const market = upstream?.market ?? null;
  const label = marketLabel(market);
  if (label === null) return null;
  return (
    <Tag role="note" data-testid="market-indicator" data-market={market ?? ""} title="Exchange session (IST)">
      {label}
    </Tag>
  );
}
