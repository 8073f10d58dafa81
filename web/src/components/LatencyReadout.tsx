import styled from "styled-components";
import { formatLatency } from "../format/numbers";
import { useFeedStatus } from "../market/MarketContext";
import { isDisconnected } from "./ConnectionBanner";

const Readout = styled.span`
  color: ${({ theme }) => theme.colors.textMuted};
  font-family: ${({ theme }) => theme.font.mono};
  font-size: 12px;
  white-space: nowrap;
  @media (max-width: 700px) { display: none; }
`;

/** Median delay from the ingestor receiving a tick to this browser receiving it. */
export function LatencyReadout() {
  const status = useFeedStatus();
  // No figure while disconnected: the last one would claim a freshness the page no longer has.
  const latencyMs = isDisconnected(status) ? null : status.latencyMs;
  return (
    <Readout data-testid="latency" title="Median delay from ingest to this browser (recent ticks)">
      latency {formatLatency(latencyMs)}
    </Readout>
  );
}
