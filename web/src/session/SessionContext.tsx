import { createContext, useCallback, useContext, useEffect, useMemo, useRef, useState, type ReactNode } from "react";
import { AuthUnavailableError, requestLogout, SignedOutError, type AccessToken } from "./authApi";
import { readClaims } from "./jwt";
import { RENEW_RETRY_MS, RenewalTimer } from "./renewal";
import { TokenSource } from "./tokenSource";

export type SessionState =
  | { status: "loading" }
  | { status: "signedOut" }
  | { status: "unavailable"; message: string }
  | { status: "signedIn"; sub: string; token: string };

export interface Session {
  state: SessionState;
  /** The newest access token, without waiting for a render. Stable identity. */
  currentToken(): string | null;
  /** Get a fresh access token now; null when the visitor turned out to be signed out. */
  renew(): Promise<string | null>;
  signOut(): Promise<void>;
}

const SessionContext = createContext<Session | null>(null);

/**
 * The browser session: an access token fetched with the HttpOnly refresh cookie, renewed
 * before it expires, dropped on sign-out. Owns the renewal timer.
 */
export function SessionProvider({ children }: { children: ReactNode }) {
  const [tokens] = useState(() => new TokenSource());
  const [state, setState] = useState<SessionState>({ status: "loading" });
  const tokenRef = useRef<string | null>(null);
  const renewRef = useRef<() => Promise<string | null>>(async () => null);
  const [timer] = useState(() => new RenewalTimer(() => void renewRef.current()));

  const accept = useCallback(
    (token: AccessToken): string | null => {
      const claims = readClaims(token.access_token);
      if (claims === null) {
        setState({ status: "unavailable", message: "the sign-in service sent an unreadable token" });
        return null;
      }
      tokenRef.current = token.access_token;
      timer.scheduleForToken(token.expires_in);
      setState({ status: "signedIn", sub: claims.sub, token: token.access_token });
      return token.access_token;
    },
    [timer],
  );

  const renew = useCallback(async (): Promise<string | null> => {
    try {
      return accept(await tokens.fetchToken());
    } catch (err) {
      if (err instanceof SignedOutError) {
        tokenRef.current = null;
        timer.cancel();
        setState({ status: "signedOut" });
        return null;
      }
      const message = err instanceof AuthUnavailableError ? err.message : String(err);
      timer.scheduleIn(RENEW_RETRY_MS);
      // A token that still works keeps the board up; without one, say what is wrong.
      if (tokenRef.current === null) setState({ status: "unavailable", message });
      return null;
    }
  }, [accept, timer, tokens]);
  renewRef.current = renew;

  useEffect(() => {
    void renew();
    return () => timer.cancel();
  }, [renew, timer]);

  const signOut = useCallback(async () => {
    timer.cancel();
    tokenRef.current = null;
    try {
      await requestLogout();
    } finally {
      setState({ status: "signedOut" });
    }
  }, [timer]);

  // Stable across renewals: the feed built from it must outlive each token.
  const currentToken = useCallback(() => tokenRef.current, []);
  const session = useMemo<Session>(
    () => ({ state, currentToken, renew, signOut }),
    [state, currentToken, renew, signOut],
  );
  return <SessionContext.Provider value={session}>{children}</SessionContext.Provider>;
}

/** A session that is simply signed in, for the benchmark page (no auth service behind it). */
export function StaticSessionProvider({ sub, children }: { sub: string; children: ReactNode }) {
  const session = useMemo<Session>(
    () => ({
      state: { status: "signedIn", sub, token: "" },
      currentToken: () => "",
      renew: async () => "",
      signOut: async () => undefined,
    }),
    [sub],
  );
  return <SessionContext.Provider value={session}>{children}</SessionContext.Provider>;
}

export function useSession(): Session {
  const session = useContext(SessionContext);
  if (session === null) throw new Error("useSession outside a session provider");
  return session;
}
