import styled from "styled-components";
import { formatLatency } from "../format/numbers";
import { useFeedStatus } from "../market/MarketContext";

const Readout = styled.span`
  color: ${({ theme }) => theme.colors.textMuted};
  font-family: ${({ theme }) => theme.font.mono};
  font-size: 12px;
  white-space: nowrap;
`;

/** Median delay from the ingestor receiving a tick to this browser receiving it. */
export function LatencyReadout() {
  const { latencyMs } = useFeedStatus();
  return (
    <Readout data-testid="latency" title="Median delay from ingest to this browser (recent ticks)">
      latency {formatLatency(latencyMs)}
    </Readout>
  );
}
