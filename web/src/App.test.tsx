// @vitest-environment jsdom
import { act, cleanup, fireEvent, render, screen, waitFor, within } from "@testing-library/react";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { App } from "./App";
import { makeBar, makeDepth, makeTick } from "./test/ticks";
import { FakeFeed } from "./test/fakeFeed";

function b64url(text: string): string {
  return Buffer.from(text).toString("base64").replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}
let issued = 0;
/** A distinct token each call, like the auth service's (only the payload matters to the page). */
const jwt = (sub: string) =>
  `${b64url('{"alg":"ES256"}')}.${b64url(JSON.stringify({ sub, exp: 2_000_000_000, jti: ++issued }))}.sig`;

function stubAuth(status: number) {
  const fetchMock = vi.fn(async (input: RequestInfo | URL) => {
    const path = String(input);
    if (path === "/auth/token" && status === 200) {
      return new Response(JSON.stringify({ access_token: jwt("XY12345"), token_type: "Bearer", expires_in: 900 }), { status });
    }
    if (path === "/auth/logout") return new Response(null, { status: 204 });
    return new Response(JSON.stringify({ error: "unauthorized" }), { status: 401 });
  });
  vi.stubGlobal("fetch", fetchMock);
  return fetchMock;
}

/** Let the coalescer's animation frame run. */
async function nextFrame() {
  await act(async () => {
    await new Promise((resolve) => requestAnimationFrame(() => resolve(undefined)));
  });
}

/** Render the signed-in app on `feed` and wait until the page has started it. */
async function mountBoard(feed: FakeFeed) {
  render(<App feedFactory={() => feed} />);
  await screen.findByTestId("board");
  // The feed starts in a passive effect, which may run just after the board appears.
  await waitFor(() => expect(feed.handlers).not.toBeNull());
}

beforeEach(() => {
  window.localStorage.clear();
  window.matchMedia ??= ((query: string) => ({
    matches: false,
    media: query,
    addEventListener: () => undefined,
    removeEventListener: () => undefined,
    // The chart library listens for device-pixel-ratio changes the old way.
    addListener: () => undefined,
    removeListener: () => undefined,
  })) as unknown as typeof window.matchMedia;
});

afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
});

describe("App", () => {
  it("shows the sign-in page when /auth/token says 401", async () => {
    stubAuth(401);
    render(<App feedFactory={() => new FakeFeed()} />);
    const button = await screen.findByTestId("sign-in-button");
    expect(button.getAttribute("href")).toBe("/auth/login?next=/");
    expect(screen.queryByTestId("board")).toBeNull();
  });

  it("fills the board from the feed, coalesced per frame, and selects with Enter", async () => {
    stubAuth(200);
    const feed = new FakeFeed();
    await mountBoard(feed);
    expect(feed.quotes.size).toBe(52);
    expect(screen.getByTestId("status-badge").dataset.state).toBe("connected");

    act(() => {
      feed.handlers!.ticks([makeTick("NSE:SBIN-EQ", 1, { ltp: 800.5, change: -2, change_pct: -0.25 })], true);
      feed.handlers!.ticks([makeTick("NSE:SBIN-EQ", 2, { ltp: 801.25, change: -1.25, change_pct: -0.16 })], false);
      feed.handlers!.ticks([makeTick("NSE:SBIN-EQ", 1, { ltp: 1 })], false); // older: ignored
    });
    const row = document.querySelector<HTMLElement>('[data-testid="board-row"][data-symbol="NSE:SBIN-EQ"]')!;
    expect(within(row).getByTestId("cell-ltp").textContent).toBe("—"); // nothing before the frame
    await nextFrame();
    expect(within(row).getByTestId("cell-ltp").textContent).toBe("801.25");
    expect(within(row).getByTestId("cell-change-pct").textContent).toBe("-0.16%");
    expect(within(row).getByTestId("cell-change-pct").dataset.dir).toBe("down");

    row.focus();
    fireEvent.keyDown(row, { key: "Enter" });
    await waitFor(() => expect(feed.depth).toBe("NSE:SBIN-EQ"));
    expect(row.getAttribute("aria-selected")).toBe("true");
    act(() => feed.handlers!.depth([makeDepth("NSE:SBIN-EQ", 3)]));
    await nextFrame();
    const panel = screen.getByTestId("depth-panel");
    expect(within(panel).getAllByTestId("depth-bid")).toHaveLength(5);
    expect(within(panel).getAllByTestId("depth-ask")).toHaveLength(5);
  });

  it("says once, in plain words, that a refused symbol is not listed, and keeps it off the watchlist", async () => {
    stubAuth(200);
    const feed = new FakeFeed();
    feed.unknown.add("NSE:NOPE-EQ");
    await mountBoard(feed);
    const search = screen.getByTestId("symbol-search");
    fireEvent.change(search, { target: { value: "NOPE" } });
    fireEvent.keyDown(search, { key: "Enter" });
    const notice = await screen.findByTestId("notice");
    expect(notice.textContent).toContain("NOPE isn't a listed NSE/BSE symbol");
    // One message: no second one under the search box.
    await waitFor(() => expect(screen.queryByTestId("search-message")).toBeNull());
    expect(screen.getAllByTestId("notice")).toHaveLength(1);
    expect(document.querySelector('[data-symbol="NSE:NOPE-EQ"][data-testid="board-row"]')).toBeNull();

    fireEvent.change(search, { target: { value: "sensex" } });
    fireEvent.keyDown(search, { key: "Enter" });
    await waitFor(() => expect(document.querySelector('[data-testid="board-row"][data-symbol="BSE:SENSEX-INDEX"]')).not.toBeNull());
    expect(JSON.parse(window.localStorage.getItem("livews.watchlist.XY12345")!)).toContain("BSE:SENSEX-INDEX");
    expect(screen.getAllByTestId("index-card").map((c) => c.dataset.symbol)).toContain("BSE:SENSEX-INDEX");
  });

  it("is honest about state: upstream down, reconnecting, and stale symbols", async () => {
    stubAuth(200);
    const feed = new FakeFeed();
    await mountBoard(feed);
    const badge = screen.getByTestId("status-badge");
    act(() => feed.handlers!.status({ upstream: "down", ts: Date.now() }));
    expect(badge.dataset.state).toBe("upstream-down");
    act(() => feed.handlers!.connection("reconnecting"));
    expect(badge.dataset.state).toBe("reconnecting");
    act(() => feed.handlers!.connection("connected"));
    act(() => feed.handlers!.status({ upstream: "up", ts: Date.now() }));
    expect(badge.dataset.state).toBe("connected");
    expect(screen.queryByTestId("market-indicator")).toBeNull(); // no market field: nothing said
    act(() => feed.handlers!.status({ upstream: "up", ts: Date.now(), market: "closed" }));
    expect(screen.getByTestId("market-indicator").textContent).toBe("Market closed");
    act(() => feed.handlers!.status({ upstream: "up", ts: Date.now(), market: "pre_open" }));
    expect(screen.getByTestId("market-indicator").textContent).toBe("Pre-open");
    act(() => feed.handlers!.status({ upstream: "up", ts: Date.now(), market: "open" }));
    expect(screen.queryByTestId("market-indicator")).toBeNull();

    act(() => feed.handlers!.ticks([makeTick("NSE:SBIN-EQ", 1)], false));
    await nextFrame();
    const row = document.querySelector<HTMLElement>('[data-testid="board-row"][data-symbol="NSE:SBIN-EQ"]')!;
    expect(row.dataset.stale).toBeUndefined();
    // Eleven seconds later (by the page's clock) with no newer tick, the row is marked.
    const now = Date.now();
    const clock = vi.spyOn(Date, "now").mockReturnValue(now + 11_000);
    try {
      await waitFor(() => expect(row.dataset.stale).toBe("true"), { timeout: 3000 });
      expect(within(row).getByTestId("stale-marker")).toBeTruthy();
    } finally {
      clock.mockRestore();
    }
  });

  it("drops a watched symbol the upstream does not know, but keeps one refused for a limit", async () => {
    stubAuth(200);
    const feed = new FakeFeed();
    await mountBoard(feed);
    const rowOf = (symbol: string) => document.querySelector(`[data-testid="board-row"][data-symbol="${symbol}"]`);
    act(() =>
      feed.handlers!.rejected(
        [
          { symbol: "NSE:SBIN-EQ", code: "too_many_subscriptions", message: "limit 200" },
          { symbol: "NSE:TCS-EQ", code: "invalid_symbol", message: "unknown" },
        ],
        "quote",
      ),
    );
    expect(screen.getAllByTestId("notice").map((n) => n.textContent)).toEqual([
      expect.stringContaining("SBIN can't be added: the watchlist is at its limit"),
      expect.stringContaining("TCS isn't a listed NSE/BSE symbol"),
    ]);
    expect(rowOf("NSE:SBIN-EQ")).not.toBeNull();
    expect(rowOf("NSE:TCS-EQ")).toBeNull();
  });

  it("filters, sorts and toggles the theme", async () => {
    stubAuth(200);
    const feed = new FakeFeed();
    await mountBoard(feed);
    act(() =>
      feed.handlers!.ticks([
        makeTick("NSE:TCS-EQ", 1, { ltp: 3100, change_pct: 1 }),
        makeTick("NSE:INFY-EQ", 1, { ltp: 1500, change_pct: -1 }),
      ], false),
    );
    await nextFrame();
    fireEvent.click(screen.getByTestId("quick-filter-gainers"));
    expect(screen.getAllByTestId("board-row").map((r) => r.dataset.symbol)).toEqual(["NSE:TCS-EQ"]);
    fireEvent.click(screen.getByTestId("quick-filter-all"));
    fireEvent.change(screen.getByTestId("filter-input"), { target: { value: "nifty" } });
    expect(screen.getAllByTestId("board-row").map((r) => r.dataset.symbol)).toEqual(["NSE:NIFTY50-INDEX", "NSE:NIFTYBANK-INDEX"]);
    fireEvent.change(screen.getByTestId("filter-input"), { target: { value: "" } });
    fireEvent.click(screen.getByTestId("sort-ltp"));
    expect(screen.getAllByTestId("board-row").slice(0, 2).map((r) => r.dataset.symbol)).toEqual(["NSE:TCS-EQ", "NSE:INFY-EQ"]);

    const before = document.documentElement.dataset.theme;
    fireEvent.click(screen.getByTestId("theme-toggle"));
    expect(document.documentElement.dataset.theme).not.toBe(before);
    expect(window.localStorage.getItem("livews.theme")).toBe(document.documentElement.dataset.theme);
  });

  it("signs out: POST /auth/logout, then the sign-in page", async () => {
    const fetchMock = stubAuth(200);
    const feed = new FakeFeed();
    await mountBoard(feed);
    fireEvent.click(screen.getByTestId("sign-out"));
    await screen.findByTestId("sign-in-page");
    expect(fetchMock).toHaveBeenCalledWith("/auth/logout", expect.objectContaining({ method: "POST", credentials: "include" }));
    expect(feed.stopped).toBe(true);
  });

  it("says so when the sign-in service cannot be reached", async () => {
    vi.stubGlobal(
      "fetch",
      vi.fn(async () => {
        throw new TypeError("Failed to fetch");
      }),
    );
    render(<App feedFactory={() => new FakeFeed()} />);
    await screen.findByTestId("auth-unavailable");
    expect(screen.queryByTestId("board")).toBeNull();
  });

  it("renews at once on auth:expiring and sends the new token on the socket", async () => {
    const fetchMock = stubAuth(200);
    const feed = new FakeFeed();
    await mountBoard(feed);
    const before = fetchMock.mock.calls.length;
    act(() => feed.handlers!.expiring(Math.floor(Date.now() / 1000) + 30));
    await waitFor(() => expect(fetchMock.mock.calls.length).toBe(before + 1));
    expect(fetchMock.mock.calls.at(-1)![0]).toBe("/auth/token");
    // The first token went in with the connection; the renewed one goes on the socket.
    await waitFor(() => expect(feed.refreshed).toHaveLength(2));
    expect(feed.refreshed[1]).not.toBe(feed.refreshed[0]);
  });

  it("renews the token when the gateway refuses it, and hands the new one to the feed", async () => {
    const fetchMock = stubAuth(200);
    const feed = new FakeFeed();
    await mountBoard(feed);
    const calls = fetchMock.mock.calls.filter(([p]) => p === "/auth/token").length;
    act(() => feed.handlers!.authProblem("unauthorized"));
    await waitFor(() => expect(fetchMock.mock.calls.filter(([p]) => p === "/auth/token").length).toBe(calls + 1));
    await waitFor(() => expect(feed.refreshed).toHaveLength(2));
    expect(feed.refreshed[1]).not.toBe(feed.refreshed[0]);
  });
  it("shows a banner, dims the board and blanks the latency while disconnected, and clears on return", async () => {
    stubAuth(200);
    const feed = new FakeFeed();
    await mountBoard(feed);
    act(() => feed.handlers!.ticks([makeTick("NSE:SBIN-EQ", 1, { ingest_ts: Date.now() - 20 })], false));
    await nextFrame();
    await waitFor(() => expect(screen.getByTestId("latency").textContent).not.toContain("—"), { timeout: 3000 });
    expect(screen.queryByTestId("connection-banner")).toBeNull();
    act(() => {
      feed.handlers!.connection("reconnecting");
      feed.handlers!.retryAt!(Date.now() + 4_000);
    });
    const banner = screen.getByTestId("connection-banner");
    expect(banner.textContent).toMatch(/^Disconnected — prices as of \d\d:\d\d:\d\d, retrying in [34] s$/);
    expect(screen.getByTestId("dashboard").dataset.connection).toBe("down");
    expect(screen.getByTestId("latency").textContent).toContain("—");
    act(() => feed.handlers!.connection("connected"));
    expect(screen.queryByTestId("connection-banner")).toBeNull();
    expect(screen.getByTestId("dashboard").dataset.connection).toBe("up");
  });

  it("removes a row with an undo that puts it back in place", async () => {
    stubAuth(200);
    const feed = new FakeFeed();
    await mountBoard(feed);
    const order = () => [...document.querySelectorAll<HTMLElement>('[data-testid="board-row"]')].map((r) => r.dataset.symbol);
    const before = order();
    const row = document.querySelector<HTMLElement>('[data-testid="board-row"][data-symbol="NSE:SBIN-EQ"]')!;
    fireEvent.click(within(row).getByTestId("remove-symbol"));
    expect(order()).not.toContain("NSE:SBIN-EQ");
    expect(feed.quotes.has("NSE:SBIN-EQ")).toBe(false);
    const notice = screen.getByTestId("notice");
    expect(notice.textContent).toContain("Removed SBIN");
    fireEvent.click(within(notice).getByTestId("notice-action"));
    await waitFor(() => expect(order()).toEqual(before));
    expect(feed.quotes.has("NSE:SBIN-EQ")).toBe(true);
    expect(screen.queryByTestId("notice")).toBeNull();
  });

  it("charts the selected symbol from bars and fills depth from the quote at once", async () => {
    stubAuth(200);
    const feed = new FakeFeed();
    await mountBoard(feed);
    act(() => feed.handlers!.ticks([makeTick("NSE:SBIN-EQ", 1)], false));
    await nextFrame();
    const row = document.querySelector<HTMLElement>('[data-testid="board-row"][data-symbol="NSE:SBIN-EQ"]')!;
    fireEvent.click(row);
    await waitFor(() => expect(feed.bars).toContain("NSE:SBIN-EQ"));
    // Before the depth subscription answers, the quote's best bid and ask show, with the spread.
    const panel = screen.getByTestId("depth-panel");
    expect(panel.dataset.state).toBe("quote");
    expect(within(panel).getByTestId("depth-spread").textContent).toContain("0.10");
    act(() => feed.handlers!.bars!([makeBar("NSE:SBIN-EQ", 0, { final: true }), makeBar("NSE:SBIN-EQ", 1)], true));
    const chart = await screen.findByTestId("chart", undefined, { timeout: 5000 });
    await waitFor(() => expect(chart.dataset.bars).toBe("2"));
    act(() => feed.handlers!.bars!([makeBar("NSE:SBIN-EQ", 2)], false));
    await waitFor(() => expect(chart.dataset.bars).toBe("3"));
    // Sparklines are on by default: the row draws the day from the same bars.
    const spark = within(row).getByTestId("sparkline");
    expect(spark.dataset.bars).toBe("3"); // a new minute redraws at once
    expect(spark.dataset.points).toMatch(/^[\d.]+,[\d.]+( [\d.]+,[\d.]+){2}$/);
    expect(spark.getAttribute("src")).toMatch(/^data:image\/svg\+xml,/);
  });
});
