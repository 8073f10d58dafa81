import styled from "styled-components";
import { useSession } from "../session/SessionContext";
import { Button } from "./controls";
import { IndexStrip } from "./IndexStrip";
import { LatencyReadout } from "./LatencyReadout";
import { MarketIndicator } from "./MarketIndicator";
import { StatusBadge } from "./StatusBadge";
import { ThemeToggle } from "./ThemeToggle";

/** One line at every width: what does not fit on a phone is hidden, never wrapped. */
const Bar = styled.header`
  /* The index strip changes every frame: keep its layout and paint inside the header. */
  contain: content;
  display: flex;
  flex-wrap: nowrap;
  align-items: center;
  gap: 12px;
  min-height: 44px;
  padding: 4px 16px;
  background: ${({ theme }) => theme.colors.surface};
  border-bottom: 1px solid ${({ theme }) => theme.colors.border};
  h1 { margin: 0; font-size: 16px; white-space: nowrap; }
  @media (max-width: 700px) {
    gap: 6px;
    padding: 4px 8px;
    h1 { display: none; }
  }
`;

const Spacer = styled.div`
  flex: 1;
`;

const User = styled.span`
  color: ${({ theme }) => theme.colors.textMuted};
  white-space: nowrap;
  @media (max-width: 1100px) { display: none; }
`;

export function Header() {
  const session = useSession();
  const sub = session.state.status === "signedIn" ? session.state.sub : null;
  return (
    <Bar>
      <h1>LiveWebsocket</h1>
      <StatusBadge />
      <MarketIndicator />
      <IndexStrip />
      <LatencyReadout />
      <Spacer />
      {sub !== null && <User data-testid="user">{sub}</User>}
      <ThemeToggle />
      <Button type="button" onClick={() => void session.signOut()} data-testid="sign-out">
        Sign out
      </Button>
    </Bar>
  );
}
