import { requestAccessToken, type AccessToken, type Fetch } from "./authApi";

interface LockManagerLike {
  request<T>(name: string, callback: () => Promise<T>): Promise<T>;
}

function browserLocks(): LockManagerLike | null {
  const nav = typeof navigator === "undefined" ? undefined : (navigator as { locks?: LockManagerLike });
  return nav?.locks ?? null;
}

const LOCK_NAME = "livews-refresh-token";

/**
 * The one way this page gets access tokens.
 *
 * Contract: at most one `POST /auth/token` is in flight per page — a second caller joins the
 * first one's promise — and, where the browser has Web Locks, per origin, so two tabs never
 * present the same refresh cookie at once (which the auth service treats as theft and
 * answers by revoking the session).
 */
export class TokenSource {
  private inflight: Promise<AccessToken> | null = null;

  constructor(
    private readonly fetchImpl: Fetch = (input, init) => fetch(input, init),
    private readonly locks: LockManagerLike | null = browserLocks(),
  ) {}

  fetchToken(): Promise<AccessToken> {
    if (this.inflight === null) {
      const run = () => requestAccessToken(this.fetchImpl);
      const request = this.locks ? this.locks.request(LOCK_NAME, run) : run();
      this.inflight = request.finally(() => {
        this.inflight = null;
      });
    }
    return this.inflight;
  }
}
