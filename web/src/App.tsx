import { useCallback } from "react";
import { Dashboard } from "./components/Dashboard";
import { GlobalStyle } from "./components/GlobalStyle";
import { AuthUnavailablePage, SignInPage } from "./components/SignInPage";
import type { MarketFeed } from "./gateway/feed";
import { GatewayFeed } from "./gateway/gatewayFeed";
import { MarketProvider } from "./market/MarketContext";
import { SessionProvider, useSession } from "./session/SessionContext";
import { ThemeChoiceProvider } from "./theme/ThemeContext";

/** Signed in → the live board; signed out → the sign-in page; never a broken table. */
function SessionGate() {
  const session = useSession();
  const { state } = session;
  const createFeed = useCallback(
    (): MarketFeed => new GatewayFeed({ token: session.currentToken }),
    // currentToken reads a ref, so one feed serves the whole session of a user.
    [],
  );
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

export function App() {
  return (
    <ThemeChoiceProvider>
      <GlobalStyle />
      <SessionProvider>
        <SessionGate />
      </SessionProvider>
    </ThemeChoiceProvider>
  );
}
