import { describe, expect, it, vi } from "vitest";
import { AuthUnavailableError, SignedOutError } from "./authApi";
import { TokenSource } from "./tokenSource";

const json = (status: number, body: unknown) =>
  new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });

describe("TokenSource", () => {
  it("posts to /auth/token with the cookie and returns the token", async () => {
    const fetchImpl = vi.fn(async () => json(200, { access_token: "a.b.c", token_type: "Bearer", expires_in: 900 }));
    const token = await new TokenSource(fetchImpl, null).fetchToken();
    expect(token).toEqual({ access_token: "a.b.c", token_type: "Bearer", expires_in: 900 });
    expect(fetchImpl).toHaveBeenCalledWith("/auth/token", expect.objectContaining({ method: "POST", credentials: "include" }));
  });

  it("never has two refreshes in flight: concurrent callers share one request", async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const fetchImpl = vi.fn(async () => {
      await gate;
      return json(200, { access_token: "t", token_type: "Bearer", expires_in: 60 });
    });
    const source = new TokenSource(fetchImpl, null);
    const both = Promise.all([source.fetchToken(), source.fetchToken()]);
    release();
    const [a, b] = await both;
    expect(a).toBe(b);
    expect(fetchImpl).toHaveBeenCalledTimes(1);
    await source.fetchToken();
    expect(fetchImpl).toHaveBeenCalledTimes(2);
  });

  it("takes the cross-tab lock when the browser has one", async () => {
    const names: string[] = [];
    const locks = {
      request: <T,>(name: string, callback: () => Promise<T>) => {
        names.push(name);
        return callback();
      },
    };
    const fetchImpl = vi.fn(async () => json(200, { access_token: "t", token_type: "Bearer", expires_in: 60 }));
    await new TokenSource(fetchImpl, locks).fetchToken();
    expect(names).toEqual(["livews-refresh-token"]);
  });

  it("maps 401 to signed out and other failures to unavailable", async () => {
    await expect(new TokenSource(async () => json(401, { error: "unauthorized" }), null).fetchToken()).rejects.toBeInstanceOf(
      SignedOutError,
    );
    const failing = new TokenSource(async () => json(502, { error: "upstream_unavailable" }), null);
    await expect(failing.fetchToken()).rejects.toMatchObject({ name: "AuthUnavailableError", status: 502, message: "upstream_unavailable" });
    const offline = new TokenSource(async () => {
      throw new TypeError("Failed to fetch");
    }, null);
    await expect(offline.fetchToken()).rejects.toBeInstanceOf(AuthUnavailableError);
  });

  it("recovers after a failure (the in-flight slot is released)", async () => {
    const fetchImpl = vi
      .fn()
      .mockResolvedValueOnce(json(500, {}))
      .mockResolvedValueOnce(json(200, { access_token: "t", token_type: "Bearer", expires_in: 60 }));
    const source = new TokenSource(fetchImpl, null);
    await expect(source.fetchToken()).rejects.toBeInstanceOf(AuthUnavailableError);
    await expect(source.fetchToken()).resolves.toMatchObject({ access_token: "t" });
  });
});
