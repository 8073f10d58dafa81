import { useCallback } from "react";
import { Dashboard } from "./components/Dashboard";
import { GlobalStyle } from "./components/GlobalStyle";
import { AuthUnavailablePage, SignInPage } from "./components/SignInPage";
import type { MarketFeed } from "./gateway/feed";
import { GatewayFeed } from "./gateway/gatewayFeed";
import { MarketProvider } from "./market/MarketContext";
import { SessionProvider, useSession } from "./session/SessionContext";
import { ThemeChoiceProvider } from "./theme/ThemeContext";

/** Builds the page's feed; the token getter always returns the newest token. */
export type FeedFactory = (token: () => string | null) => MarketFeed;

const gatewayFeed: FeedFactory = (token) => new GatewayFeed({ token });

/** Signed in → the live board; signed out → the sign-in page; never a broken table. */
function SessionGate({ feedFactory }: { feedFactory: FeedFactory }) {
  const session = useSession();
  const { state, currentToken } = session;
  const createFeed = useCallback(() => feedFactory(currentToken), [feedFactory, currentToken]);
  switch (state.status) {
    case "loading":
      return <p data-testid="session-loading" style={{ padding: 24 }}>Loading…</p>;
    case "signedOut":
      return <SignInPage />;
    case "unavailable":
      return <AuthUnavailablePage message={state.message} onRetry={() => void session.renew()} />;
    case "signedIn":
      return (
        <MarketProvider key={state.sub} createFeed={createFeed}>
          <Dashboard />
        </MarketProvider>
      );
  }
}

export function App({ feedFactory = gatewayFeed }: { feedFactory?: FeedFactory }) {
  return (
    <ThemeChoiceProvider>
      <GlobalStyle />
      <SessionProvider>
        <SessionGate feedFactory={feedFactory} />
      </SessionProvider>
    </ThemeChoiceProvider>
  );
}
