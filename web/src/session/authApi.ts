/** The auth service's browser-facing endpoints (CONTRACT.md §2), same origin, cookie-bound. */

export interface AccessToken {
  access_token: string;
  token_type: string;
  /** Seconds from issue. */
  expires_in: number;
}

/** The refresh cookie is missing, expired or revoked: the visitor must sign in. */
export class SignedOutError extends Error {
  constructor(message = "signed out") {
    super(message);
    this.name = "SignedOutError";
  }
}

/** The auth service could not be reached or failed; retrying later may work. */
export class AuthUnavailableError extends Error {
  constructor(
    message: string,
    readonly status: number | null,
  ) {
    super(message);
    this.name = "AuthUnavailableError";
  }
}

export const SIGN_IN_URL = "/auth/login?next=/";

export type Fetch = typeof fetch;

async function errorCode(response: Response): Promise<string> {
  try {
    const body: unknown = await response.json();
    if (typeof body === "object" && body !== null && typeof (body as { error?: unknown }).error === "string") {
      return (body as { error: string }).error;
    }
  } catch {
    // not JSON: the status says enough
  }
  return `http_${response.status}`;
}

/**
 * Exchange the refresh cookie for an access token. The cookie rotates on every call and a
 * refresh token used twice revokes the session, so callers must never run two at once:
 * use {@link TokenSource}, which serialises them.
 */
export async function requestAccessToken(fetchImpl: Fetch = fetch): Promise<AccessToken> {
  let response: Response;
  try {
    response = await fetchImpl("/auth/token", {
      method: "POST",
      credentials: "include",
      headers: { Accept: "application/json" },
    });
  } catch (err) {
    throw new AuthUnavailableError(err instanceof Error ? err.message : String(err), null);
  }
  if (response.status === 401) throw new SignedOutError(await errorCode(response));
  if (!response.ok) throw new AuthUnavailableError(await errorCode(response), response.status);
  const body = (await response.json()) as Partial<AccessToken>;
  if (typeof body.access_token !== "string" || typeof body.expires_in !== "number") {
    throw new AuthUnavailableError("malformed token response", response.status);
  }
  return { access_token: body.access_token, token_type: body.token_type ?? "Bearer", expires_in: body.expires_in };
}

/** Revoke the session and clear the cookie; a 2xx even when already signed out. */
export async function requestLogout(fetchImpl: Fetch = fetch): Promise<void> {
  await fetchImpl("/auth/logout", { method: "POST", credentials: "include" });
}
