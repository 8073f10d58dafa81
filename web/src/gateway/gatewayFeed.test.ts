import { createServer, type Server as HttpServer } from "node:http";
import type { AddressInfo } from "node:net";
import { Server, type Socket as ServerSocket } from "socket.io";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { makeBar, makeDepth, makeTick } from "../test/ticks";
import type { Bar, Rejection, SubscriptionMode, Tick } from "../market/types";
import type { AuthProblem, ConnectionState, FeedHandlers } from "./feed";
import { BOARD_MAX_HZ, GatewayFeed } from "./gatewayFeed";

/**
 * A real Socket.IO server speaking the gateway's events (CONTRACT.md §3), small enough to
 * reason about: tokens starting with "good" pass, symbols starting with "NSE:BAD" are unknown.
 */
class FakeGateway {
  readonly http: HttpServer = createServer();
  readonly io = new Server(this.http, { path: "/socket.io", transports: ["websocket"] });
  readonly calls: { sid: string; event: string; payload: unknown }[] = [];
  readonly sockets: ServerSocket[] = [];
  readonly formats: unknown[] = [];

  async listen(): Promise<string> {
    this.io.use((socket, next) => {
      const token = (socket.handshake.auth as { token?: string }).token ?? "";
      this.formats.push((socket.handshake.auth as { format?: string }).format);
      if (token.startsWith("good")) return next();
      const err = new Error("unauthorized: bad token") as Error & { data?: unknown };
      err.data = { code: "unauthorized" };
      next(err);
    });
    this.io.on("connection", (socket) => {
      this.sockets.push(socket);
      socket.emit("status", { upstream: "up", ts: Date.now() });
      socket.on("subscribe", (payload: { symbols: string[]; mode: SubscriptionMode }, ack: (a: unknown) => void) => {
        this.calls.push({ sid: socket.id, event: "subscribe", payload });
        const rejected: Rejection[] = payload.symbols
          .filter((s) => s.startsWith("NSE:BAD"))
          .map((symbol) => ({ symbol, code: "invalid_symbol", message: "unknown symbol" }));
        const subscribed = payload.symbols.filter((s) => !s.startsWith("NSE:BAD"));
        ack({ ok: true, subscribed, rejected });
        if (payload.mode === "depth") socket.emit("snapshot", { depth: subscribed.map((s) => makeDepth(s, 1)) });
        else if (payload.mode === "bars") socket.emit("snapshot", { bars: subscribed.map((s) => makeBar(s, 0, { final: true })) });
        else socket.emit("snapshot", { ticks: subscribed.map((s) => makeTick(s, 1)) });
      });
      socket.on("unsubscribe", (payload: unknown, ack: (a: unknown) => void) => {
        this.calls.push({ sid: socket.id, event: "unsubscribe", payload });
        ack({ ok: true });
      });
      socket.on("auth:refresh", (payload: { token: string }, ack: (a: unknown) => void) => {
        this.calls.push({ sid: socket.id, event: "auth:refresh", payload });
        ack(payload.token.startsWith("good") ? { ok: true, exp: 2_000_000_000 } : { ok: false, code: "unauthorized" });
      });
    });
    await new Promise<void>((resolve) => this.http.listen(0, "127.0.0.1", resolve));
    return `http://127.0.0.1:${(this.http.address() as AddressInfo).port}`;
  }

  get live(): ServerSocket[] {
    return this.sockets.filter((s) => s.connected);
  }

  subscribes(mode: SubscriptionMode): string[][] {
    return this.calls
      .filter((c) => c.event === "subscribe" && (c.payload as { mode: string }).mode === mode)
      .map((c) => (c.payload as { symbols: string[] }).symbols);
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => this.io.close(() => resolve()));
  }
}

/** Records everything the feed reports. */
function recorder() {
  const log = {
    states: [] as ConnectionState[],
    ticks: [] as Tick[],
    snapshots: 0,
    depthSymbols: [] as string[],
    rejected: [] as Rejection[],
    problems: [] as AuthProblem[],
    byes: [] as string[],
    upstream: [] as string[],
    bars: [] as { bar: Bar; snapshot: boolean }[],
    retries: [] as (number | null)[],
  };
  const handlers: FeedHandlers = {
    ticks: (t, snapshot) => {
      log.ticks.push(...t);
      if (snapshot) log.snapshots += 1;
    },
    depth: (d) => log.depthSymbols.push(...d.map((x) => x.symbol)),
    status: (s) => log.upstream.push(s.upstream),
    connection: (s) => log.states.push(s),
    rejected: (r) => log.rejected.push(...r),
    expiring: () => undefined,
    authProblem: (p) => log.problems.push(p),
    bye: (b) => log.byes.push(b.code),
    bars: (b, snapshot) => log.bars.push(...b.map((bar) => ({ bar, snapshot }))),
    retryAt: (at) => log.retries.push(at),
  };
  return { log, handlers };
}

/** Wait for a condition the feed reaches through events (bounded). */
async function until(condition: () => boolean, what: string, timeoutMs = 4000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe("GatewayFeed against a Socket.IO server", () => {
  let gateway: FakeGateway;
  let url: string;
  let feed: GatewayFeed | null = null;
  let token = "good-1";

  beforeEach(async () => {
    gateway = new FakeGateway();
    url = await gateway.listen();
    token = "good-1";
  });

  afterEach(async () => {
    feed?.stop();
    feed = null;
    await gateway.close();
  });

  const start = () => {
    const { log, handlers } = recorder();
    feed = new GatewayFeed({ url, token: () => token });
    feed.setQuotes(["NSE:SBIN-EQ", "NSE:NIFTY50-INDEX"]);
    feed.start(handlers);
    return { log, feed };
  };

  it("connects with the token, subscribes what is wanted and delivers the snapshot", async () => {
    const { log } = start();
    await until(() => log.ticks.length === 2, "snapshot ticks");
    expect(log.snapshots).toBe(1);
    expect(log.states).toEqual(["connecting", "connected"]);
    expect(log.upstream).toEqual(["up"]);
    expect(gateway.subscribes("quote")).toEqual([["NSE:SBIN-EQ", "NSE:NIFTY50-INDEX"]]);
  });

  it("adds symbols with an ack and reports invalid_symbol rejections", async () => {
    const { log, feed } = start();
    await until(() => log.states.includes("connected"), "connect");
    const ack = await feed.addQuotes(["NSE:BADSYM-EQ", "NSE:TCS-EQ"]);
    expect(ack?.subscribed).toEqual(["NSE:TCS-EQ"]);
    expect(log.rejected).toEqual([{ symbol: "NSE:BADSYM-EQ", code: "invalid_symbol", message: "unknown symbol" }]);
    // The rejected symbol is no longer wanted: a reconnect does not ask for it again.
    gateway.live[0]!.disconnect(true);
    await until(() => gateway.subscribes("quote").length === 3, "resubscribe");
    expect(gateway.subscribes("quote")[2]).toEqual(["NSE:SBIN-EQ", "NSE:NIFTY50-INDEX", "NSE:TCS-EQ"]);
  });

  it("resubscribes quotes and depth after the connection drops (the server is stateless)", async () => {
    const { log, feed } = start();
    await until(() => log.states.includes("connected"), "connect");
    feed.setDepth("NSE:SBIN-EQ");
    await until(() => log.depthSymbols.length === 1, "depth snapshot");
    gateway.live[0]!.conn.close(); // transport loss, as when a gateway dies
    await until(() => log.states.filter((s) => s === "connected").length === 2, "reconnect");
    expect(log.states).toContain("reconnecting");
    await until(() => gateway.subscribes("depth").length === 2, "depth resubscribe");
    expect(gateway.subscribes("quote")).toHaveLength(2);
  });

  it("subscribes bars, delivers their snapshot and live bars, and asks again after a reconnect", async () => {
    const { log, feed } = start();
    await until(() => log.states.includes("connected"), "connect");
    feed.setBars(["NSE:SBIN-EQ"]);
    await until(() => log.bars.length === 1, "bars snapshot");
    expect(log.bars[0]).toMatchObject({ snapshot: true, bar: { symbol: "NSE:SBIN-EQ", final: true } });
    gateway.live[0]!.emit("bars", [makeBar("NSE:SBIN-EQ", 1)]);
    await until(() => log.bars.length === 2, "live bar");
    expect(log.bars[1]!.snapshot).toBe(false);
    const before = Date.now();
    gateway.live[0]!.conn.close();
    await until(() => log.states.filter((s) => s === "connected").length === 2, "reconnect");
    // The feed said when it would try again (a jittered 0.25–0.5 s first), then that it was trying.
    const at = log.retries.find((r) => r !== null)!;
    expect(at - before).toBeGreaterThanOrEqual(250);
    expect(log.retries).toContain(null);
    await until(() => gateway.subscribes("bars").length === 2, "bars resubscribe");
    feed.setBars([]);
    await until(() => gateway.calls.some((c) => c.event === "unsubscribe" && (c.payload as { mode: string }).mode === "bars"), "unsubscribe");
  });

  it("asks for the compact encoding and decodes its rows into ticks", async () => {
    const { log } = start();
    await until(() => log.ticks.length === 2, "snapshot ticks");
    expect(gateway.formats).toEqual(["compact"]);
    const row = ["NSE:SBIN-EQ", 7, "quote", 812.35, 805, 815.1, 801.25, 806.4, 5.95, 0.74, 1000, 1, 809.1, 812.3,
      812.35, 10, 10, 100, 100, 1764841500000, 1764841500000, 1764841500010];
    gateway.live[0]!.emit("ticks", [row, ["NSE:SBIN-EQ", 8, 2, 5]]);
    await until(() => log.ticks.length === 4, "decoded ticks");
    expect(log.ticks.slice(2).map((t) => [t.seq, t.ltp])).toEqual([[7, 812.35], [8, 812.4]]);
  });

  it("asks for the board at BOARD_MAX_HZ and for the focused symbol at full rate", async () => {
    const { log, feed } = start();
    await until(() => log.states.includes("connected"), "connect");
    const quoteCalls = () =>
      gateway.calls
        .filter((c) => c.event === "subscribe" && (c.payload as { mode: string }).mode === "quote")
        .map((c) => c.payload as { symbols: string[]; max_hz?: number });
    await until(() => quoteCalls().length > 0, "subscribe");
    expect(quoteCalls()[0]).toEqual({ symbols: ["NSE:SBIN-EQ", "NSE:NIFTY50-INDEX"], mode: "quote", max_hz: BOARD_MAX_HZ });
    feed.setFocus("NSE:SBIN-EQ");
    await until(() => quoteCalls().length === 2, "focus subscribe");
    expect(quoteCalls()[1]).toEqual({ symbols: ["NSE:SBIN-EQ"], mode: "quote" });
    feed.setFocus("NSE:NIFTY50-INDEX");
    await until(() => quoteCalls().length === 4, "focus moved");
    expect(quoteCalls().slice(2)).toEqual([
      { symbols: ["NSE:SBIN-EQ"], mode: "quote", max_hz: BOARD_MAX_HZ },
      { symbols: ["NSE:NIFTY50-INDEX"], mode: "quote" },
    ]);
    // A reconnect keeps the split.
    gateway.live[0]!.disconnect(true);
    await until(() => quoteCalls().length === 6, "resubscribe");
    expect(quoteCalls().slice(4)).toEqual([
      { symbols: ["NSE:SBIN-EQ"], mode: "quote", max_hz: BOARD_MAX_HZ },
      { symbols: ["NSE:NIFTY50-INDEX"], mode: "quote" },
    ]);
  });

  it("moves depth with the selection: unsubscribes the old symbol", async () => {
    const { log, feed } = start();
    await until(() => log.states.includes("connected"), "connect");
    feed.setDepth("NSE:SBIN-EQ");
    feed.setDepth("NSE:TCS-EQ");
    await until(() => gateway.calls.some((c) => c.event === "unsubscribe"), "unsubscribe");
    expect(gateway.calls.find((c) => c.event === "unsubscribe")!.payload).toEqual({ symbols: ["NSE:SBIN-EQ"], mode: "depth" });
    await until(() => gateway.subscribes("depth").length === 2, "second depth subscribe");
  });

  it("reconnects by itself after bye server_shutdown", async () => {
    const { log } = start();
    await until(() => log.states.includes("connected"), "connect");
    const socket = gateway.live[0]!;
    socket.emit("bye", { code: "server_shutdown", message: "bye", reconnect: true });
    socket.disconnect(true);
    await until(() => log.states.filter((s) => s === "connected").length === 2, "reconnect");
    expect(log.byes).toEqual(["server_shutdown"]);
    expect(log.problems).toEqual([]);
  });

  it("asks for a new token after bye token_expired instead of reconnecting with the old one", async () => {
    const { log, feed } = start();
    await until(() => log.states.includes("connected"), "connect");
    const socket = gateway.live[0]!;
    socket.emit("bye", { code: "token_expired", message: "expired", reconnect: true });
    socket.disconnect(true);
    await until(() => log.problems.length === 1, "auth problem");
    expect(log.problems).toEqual(["token_expired"]);
    token = "good-2";
    await feed.refreshAuth(token); // not connected: connects with the new token
    await until(() => log.states.filter((s) => s === "connected").length === 2, "reconnect");
  });

  it("reports unauthorized on connect_error and connects once given a good token", async () => {
    token = "bad";
    const { log, feed } = start();
    await until(() => log.problems.length === 1, "unauthorized");
    expect(log.problems).toEqual(["unauthorized"]);
    expect(log.states).not.toContain("connected");
    token = "good-3";
    await feed.refreshAuth(token);
    await until(() => log.states.includes("connected"), "connect");
    // The subscribe follows the connect: the client can see "connected" before the server has the subscribe.
    await until(() => gateway.subscribes("quote").length > 0, "subscribe");
    expect(gateway.subscribes("quote")).toHaveLength(1);
  });

  it("sends auth:refresh on the live connection", async () => {
    const { log, feed } = start();
    await until(() => log.states.includes("connected"), "connect");
    await expect(feed.refreshAuth("good-renewed")).resolves.toBe(true);
    expect(gateway.calls.filter((c) => c.event === "auth:refresh").map((c) => c.payload)).toEqual([{ token: "good-renewed" }]);
    expect(log.states.filter((s) => s === "connected")).toHaveLength(1);
  });

  it("stop closes the connection and reports offline", async () => {
    const { log, feed } = start();
    await until(() => log.states.includes("connected"), "connect");
    feed.stop();
    await until(() => gateway.live.length === 0, "server sees the disconnect");
    expect(log.states.at(-1)).toBe("offline");
  });
});
