import styled from "styled-components";
import type { ConnectionState } from "../gateway/feed";
import type { FeedStatus } from "../market/MarketContext";
import { useFeedStatus } from "../market/MarketContext";

export type BadgeState = ConnectionState | "upstream-down" | "upstream-degraded";

/** One word for the page's health: the connection first, then the upstream feed behind it. */
export function badgeState(status: Pick<FeedStatus, "connection" | "upstream">): BadgeState {
  if (status.connection !== "connected") return status.connection;
  if (status.upstream?.upstream === "down") return "upstream-down";
  if (status.upstream?.upstream === "degraded") return "upstream-degraded";
  return "connected";
}

/** Shorter words for a phone's one-line header. */
const SHORT_LABELS: Record<BadgeState, string> = {
  connecting: "Connecting…",
  connected: "Live",
  reconnecting: "Retrying…",
  offline: "Offline",
  "upstream-down": "Feed down",
  "upstream-degraded": "Degraded",
};

const LABELS: Record<BadgeState, string> = {
  connecting: "Connecting…",
  connected: "Live",
  reconnecting: "Reconnecting…",
  offline: "Offline",
  "upstream-down": "Upstream down",
  "upstream-degraded": "Upstream degraded",
};

const Badge = styled.span<{ $tone: "ok" | "warning" | "danger" }>`
  display: inline-flex;
  align-items: center;
  gap: 6px;
  padding: 3px 10px;
  border-radius: 999px;
  border: 1px solid currentColor;
  font-weight: 600;
  font-size: 13px;
  white-space: nowrap;
  color: ${({ theme, $tone }) => theme.colors[$tone]};
  .short { display: none; }
  @media (max-width: 700px) {
    padding: 3px 8px;
    .long { display: none; }
    .short { display: inline; }
  }
  &::before {
    content: "";
    width: 8px;
    height: 8px;
    border-radius: 50%;
    background: currentColor;
  }
`;

function tone(state: BadgeState): "ok" | "warning" | "danger" {
  if (state === "connected") return "ok";
  if (state === "upstream-down" || state === "offline") return "danger";
  return "warning";
}

export function StatusBadge() {
  const status = useFeedStatus();
  const state = badgeState(status);
  return (
    <Badge role="status" aria-live="polite" data-testid="status-badge" data-state={state} $tone={tone(state)}>
      <span className="long">{LABELS[state]}</span>
      <span className="short" aria-hidden="true">
        {SHORT_LABELS[state]}
      </span>
    </Badge>
  );
}
