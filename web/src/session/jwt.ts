/** The claims the page reads from its access token. It never verifies them: the gateway does. */
export interface AccessClaims {
  sub: string;
  sid: string | null;
  exp: number | null;
  name: string | null;
}

function decodeBase64Url(segment: string): string {
  const base64 = segment.replace(/-/g, "+").replace(/_/g, "/");
  const padded = base64 + "=".repeat((4 - (base64.length % 4)) % 4);
  const binary = atob(padded);
  const bytes = Uint8Array.from(binary, (c) => c.charCodeAt(0));
  return new TextDecoder().decode(bytes);
}

/** Read the payload of a JWT; null when it is not one. */
export function readClaims(token: string): AccessClaims | null {
  const parts = token.split(".");
  if (parts.length !== 3 || parts[1] === undefined) return null;
  try {
    const payload: unknown = JSON.parse(decodeBase64Url(parts[1]));
    if (typeof payload !== "object" || payload === null) return null;
    const claims = payload as Record<string, unknown>;
    if (typeof claims.sub !== "string") return null;
    return {
      sub: claims.sub,
      sid: typeof claims.sid === "string" ? claims.sid : null,
      exp: typeof claims.exp === "number" ? claims.exp : null,
      name: typeof claims.name === "string" ? claims.name : null,
    };
  } catch {
    return null;
  }
}
