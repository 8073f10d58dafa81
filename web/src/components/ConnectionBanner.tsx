import { useEffect, useState } from "react";
import styled from "styled-components";
import { formatTime, secondsUntil } from "../format/numbers";
import type { FeedStatus } from "../market/MarketContext";
import { useFeedStatus } from "../market/MarketContext";

/** True when the page has lost its gateway (not while it first connects). */
export function isDisconnected(status: Pick<FeedStatus, "connection">): boolean {
  return status.connection === "reconnecting" || status.connection === "offline";
}

/** "Disconnected — prices as of 14:32:05, retrying in 4 s" (IST), or shorter when less is known. */
export function bannerText(asOf: number | null, retryAt: number | null, now: number): string {
  const details: string[] = [];
  if (asOf !== null) details.push(`prices as of ${formatTime(asOf)}`);
  details.push(retryAt === null ? "reconnecting…" : `retrying in ${secondsUntil(retryAt, now)} s`);
  return `Disconnected — ${details.join(", ")}`;
}

const Bar = styled.div`
  position: sticky;
  top: 0;
  z-index: 20;
  padding: 6px 16px;
  font-weight: 600;
  text-align: center;
  color: ${({ theme }) => theme.colors.accentText};
  background: ${({ theme }) => theme.colors.danger};
`;

/** A banner no one can miss while the connection is down; it goes away by itself on return. */
export function ConnectionBanner() {
  const status = useFeedStatus();
  const down = isDisconnected(status);
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    if (!down) return;
    setNow(Date.now());
    const timer = setInterval(() => setNow(Date.now()), 250);
    return () => clearInterval(timer);
  }, [down]);
  if (!down) return null;
  return (
    <Bar role="alert" data-testid="connection-banner">
      {bannerText(status.asOf, status.retryAt, now)}
    </Bar>
  );
}
