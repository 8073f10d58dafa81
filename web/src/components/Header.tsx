import styled from "styled-components";
import { useSession } from "../session/SessionContext";
import { Button } from "./controls";
import { LatencyReadout } from "./LatencyReadout";
import { MarketIndicator } from "./MarketIndicator";
import { StatusBadge } from "./StatusBadge";
import { ThemeToggle } from "./ThemeToggle";

const Bar = styled.header`
  display: flex;
  flex-wrap: wrap;
  align-items: center;
  gap: 8px 16px;
  padding: 10px 16px;
  background: ${({ theme }) => theme.colors.surface};
  border-bottom: 1px solid ${({ theme }) => theme.colors.border};
  h1 { margin: 0; font-size: 18px; }
`;

const Spacer = styled.div`
  flex: 1;
`;

const User = styled.span`
  color: ${({ theme }) => theme.colors.textMuted};
  @media (max-width: 600px) { display: none; }
`;

export function Header() {
  const session = useSession();
  const sub = session.state.status === "signedIn" ? session.state.sub : null;
  return (
    <Bar>
      <h1>LiveWebsocket</h1>
      <StatusBadge />
      <MarketIndicator />
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
