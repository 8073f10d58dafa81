/**
 * A dev-only stand-in for the whole stack behind nginx, for running the e2e and poking at
 * the page before the Python services exist. It speaks the real protocol (CONTRACT.md §2–§4)
 * with the real libraries (Socket.IO server from npm): cookie-bound /auth/token with
 * rotation, a Fyers-like login page with an `fy_id` form, the gateway's events and acks.
 * It is lenient where the real services are strict (tokens are unsigned; any
 * EXCHANGE:NAME symbol is known except names containing NOSUCH).
 *
 *   node e2e/mockStack.mjs [--port 8080]        serves web/dist and the mock APIs
 *   POST /__mock/kill                           drops every socket (a gateway dying)
 */
import { randomBytes } from "node:crypto";
import { createReadStream, existsSync, statSync } from "node:fs";
import { createServer } from "node:http";
import { extname, join, normalize, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { Server } from "socket.io";

const DIST = resolve(fileURLToPath(new URL("../dist", import.meta.url)));
const TYPES = { ".html": "text/html", ".js": "text/javascript", ".css": "text/css", ".map": "application/json", ".svg": "image/svg+xml" };

function b64url(value) {
  return Buffer.from(JSON.stringify(value)).toString("base64url");
}

function cookies(req) {
  const out = {};
  for (const part of (req.headers.cookie ?? "").split(";")) {
    const [k, ...v] = part.trim().split("=");
    if (k) out[k] = decodeURIComponent(v.join("="));
  }
  return out;
}

/** Bar period of the mock (ms): a "one-minute" bar closes every 5 s. */
const MOCK_BAR_MS = 5_000;
const setOf = (mode) => (mode === "depth" ? "depth" : mode === "bars" ? "bars" : "quotes");

/** Start the mock; resolves with its base URL and a close function. */
export async function startMockStack({ port = 0, host = "127.0.0.1", tokenTtlS = 900 } = {}) {
  const refreshTokens = new Map(); // refresh token → { sub, sid }
  const accessTokens = new Map(); // access token → { sub, sid, exp }
  const revoked = new Set();
  const states = new Set();
  const last = new Map(); // symbol → latest tick
  const depthSeq = new Map(); // symbol → latest depth seq
  const bars = new Map(); // symbol → its bars, oldest first

  function issue(sub, sid) {
    const exp = Math.floor(Date.now() / 1000) + tokenTtlS;
    const token = `${b64url({ alg: "none", kid: "mock" })}.${b64url({ iss: "livews-auth", aud: "livews", sub, sid, scope: "md:read", iat: exp - tokenTtlS, exp, jti: randomBytes(6).toString("hex") })}.mock`;
    accessTokens.set(token, { sub, sid, exp });
    return token;
  }

  /** One-minute bars, shortened to MOCK_BAR_MS so the chart's e2e sees a new bar quickly. */
  function foldBar(tick) {
    const list = bars.get(tick.symbol) ?? [];
    bars.set(tick.symbol, list);
    const start = tick.ingest_ts - (tick.ingest_ts % MOCK_BAR_MS);
    const open = list[list.length - 1];
    if (open && open.start === start) {
      list[list.length - 1] = { ...open, high: Math.max(open.high, tick.ltp), low: Math.min(open.low, tick.ltp), close: tick.ltp, volume: tick.volume === null ? null : open.volume + tick.ltq, ticks: open.ticks + 1, seq: tick.seq };
      return;
    }
    if (open) list[list.length - 1] = { ...open, final: true };
    list.push({ v: 1, symbol: tick.symbol, tf: "1m", start, open: tick.ltp, high: tick.ltp, low: tick.ltp, close: tick.ltp, volume: tick.volume === null ? null : tick.ltq, ticks: 1, final: false, seq: tick.seq });
    if (list.length > 500) list.shift();
  }

  function tickFor(symbol) {
    const held = last.get(symbol);
    const index = symbol.endsWith("-INDEX");
    const prevClose = held?.prev_close ?? (index ? 20000 + Math.random() * 40000 : 100 + Math.random() * 3000);
    const ltp = Math.round((held?.ltp ?? prevClose) * (1 + (Math.random() - 0.5) * 0.004) * 20) / 20;
    const now = Date.now();
    const tick = {
      v: 1, symbol, kind: index ? "index" : "quote", seq: (held?.seq ?? 0) + 1,
      ltp, open: held?.open ?? prevClose, high: Math.max(held?.high ?? ltp, ltp), low: Math.min(held?.low ?? ltp, ltp),
      prev_close: prevClose, change: ltp - prevClose, change_pct: ((ltp - prevClose) / prevClose) * 100,
      volume: index ? null : (held?.volume ?? 0) + 10, ltq: index ? null : 10, avg_price: index ? null : ltp,
      bid: index ? null : ltp - 0.05, ask: index ? null : ltp + 0.05, bid_qty: index ? null : 50, ask_qty: index ? null : 60,
      tot_buy_qty: index ? null : 5000, tot_sell_qty: index ? null : 6000, ltt: now, exch_ts: now, ingest_ts: now,
    };
    last.set(symbol, tick);
    foldBar(tick);
    return tick;
  }

  function depthFor(symbol) {
    const ltp = (last.get(symbol) ?? tickFor(symbol)).ltp;
    const level = (side, i) => [Math.round((ltp + side * 0.05 * (i + 1)) * 100) / 100, 10 + Math.floor(Math.random() * 500), 1 + Math.floor(Math.random() * 9)];
    const seq = (depthSeq.get(symbol) ?? 0) + 1;
    depthSeq.set(symbol, seq);
    return { v: 1, symbol, seq, bids: [0, 1, 2, 3, 4].map((i) => level(-1, i)), asks: [0, 1, 2, 3, 4].map((i) => level(1, i)), ingest_ts: Date.now() };
  }

  const known = (symbol) => /^(NSE|BSE):[A-Z0-9&-]+$/.test(symbol) && !symbol.includes("NOSUCH");

  const http = createServer(async (req, res) => {
    const url = new URL(req.url ?? "/", "http://mock");
    const send = (status, body, headers = {}) => {
      res.writeHead(status, { "Content-Type": "application/json", ...headers });
      res.end(body === null ? "" : JSON.stringify(body));
    };
    if (url.pathname === "/auth/login") {
      const state = randomBytes(8).toString("hex");
      states.add(state);
      const next = url.searchParams.get("next") ?? "/";
      res.writeHead(302, { Location: `/auth/mock-fyers/generate-authcode?state=${state}&next=${encodeURIComponent(next)}` });
      return res.end();
    }
    if (url.pathname === "/auth/mock-fyers/generate-authcode") {
      const fyId = url.searchParams.get("fy_id");
      if (fyId) {
        const params = new URLSearchParams({ auth_code: `code-${fyId}`, state: url.searchParams.get("state") ?? "", next: url.searchParams.get("next") ?? "/" });
        res.writeHead(302, { Location: `/auth/callback?${params}` });
        return res.end();
      }
      res.writeHead(200, { "Content-Type": "text/html" });
      return res.end(`<!doctype html><title>Mock Fyers login</title><form method="get">
        <input type="hidden" name="state" value="${url.searchParams.get("state") ?? ""}">
        <input type="hidden" name="next" value="${url.searchParams.get("next") ?? "/"}">
        <label>Fyers ID <input name="fy_id" autofocus></label><button type="submit">Log in</button></form>`);
    }
    if (url.pathname === "/auth/callback") {
      const state = url.searchParams.get("state") ?? "";
      if (!states.delete(state)) return send(400, { error: "invalid_state", message: "unknown state" });
      const sub = (url.searchParams.get("auth_code") ?? "code-XY12345").slice(5);
      const refresh = randomBytes(16).toString("hex");
      refreshTokens.set(refresh, { sub, sid: randomBytes(6).toString("hex") });
      res.writeHead(302, { Location: url.searchParams.get("next") ?? "/", "Set-Cookie": `livews_refresh=${refresh}; HttpOnly; SameSite=Lax; Path=/auth` });
      return res.end();
    }
    if (url.pathname === "/auth/token" && req.method === "POST") {
      const held = refreshTokens.get(cookies(req).livews_refresh ?? "");
      if (!held || revoked.has(held.sid)) return send(401, { error: "unauthorized", message: "no session" });
      refreshTokens.delete(cookies(req).livews_refresh);
      const refresh = randomBytes(16).toString("hex");
      refreshTokens.set(refresh, held);
      return send(200, { access_token: issue(held.sub, held.sid), token_type: "Bearer", expires_in: tokenTtlS }, {
        "Set-Cookie": `livews_refresh=${refresh}; HttpOnly; SameSite=Lax; Path=/auth`,
      });
    }
    if (url.pathname === "/auth/logout" && req.method === "POST") {
      const held = refreshTokens.get(cookies(req).livews_refresh ?? "");
      if (held) {
        revoked.add(held.sid);
        for (const socket of io.of("/").sockets.values()) {
          if (socket.data.sid === held.sid) {
            socket.emit("bye", { code: "session_revoked", message: "signed out", reconnect: false });
            socket.disconnect(true);
          }
        }
      }
      return send(204, null, { "Set-Cookie": "livews_refresh=; HttpOnly; SameSite=Lax; Path=/auth; Max-Age=0" });
    }
    if (url.pathname === "/__mock/kill" && req.method === "POST") {
      for (const client of Object.values(io.engine.clients)) client.close();
      return send(200, { ok: true });
    }
    // Static files with the SPA fallback, as nginx serves them.
    const path = normalize(join(DIST, decodeURIComponent(url.pathname)));
    const file = path.startsWith(DIST) && existsSync(path) && statSync(path).isFile() ? path : join(DIST, "index.html");
    if (!existsSync(file)) return send(500, { error: "no_build", message: "run `npm run build` first" });
    res.writeHead(200, { "Content-Type": TYPES[extname(file)] ?? "application/octet-stream" });
    createReadStream(file).pipe(res);
  });

  const io = new Server(http, { path: "/socket.io", transports: ["websocket"], maxHttpBufferSize: 64 * 1024 });
  io.use((socket, next) => {
    const claims = accessTokens.get(socket.handshake.auth?.token ?? "");
    if (!claims || claims.exp * 1000 < Date.now() || revoked.has(claims.sid)) {
      const err = new Error("unauthorized: bad token");
      err.data = { code: "unauthorized" };
      return next(err);
    }
    socket.data = { sid: claims.sid, quotes: new Set(), depth: new Set(), bars: new Set(), seen: new Map() };
    next();
  });
  io.on("connection", (socket) => {
    socket.emit("status", { upstream: "up", ts: Date.now() });
    socket.on("subscribe", (payload, ack) => {
      if (typeof ack !== "function") return;
      if (!payload || !Array.isArray(payload.symbols)) return ack({ ok: false, code: "bad_request", message: "symbols required" });
      const mode = payload.mode ?? "quote";
      const subscribed = payload.symbols.filter(known);
      const rejected = payload.symbols.filter((s) => !known(s)).map((symbol) => ({ symbol, code: "invalid_symbol", message: `unknown symbol ${symbol}` }));
      subscribed.forEach((s) => socket.data[setOf(mode)].add(s));
      ack({ ok: true, subscribed, rejected });
      if (mode === "depth") socket.emit("snapshot", { depth: subscribed.map(depthFor) });
      else if (mode === "bars") socket.emit("snapshot", { bars: subscribed.flatMap((s) => bars.get(s) ?? []) });
      else socket.emit("snapshot", { ticks: subscribed.map((s) => last.get(s) ?? tickFor(s)) });
    });
    socket.on("unsubscribe", (payload, ack) => {
      const mode = payload?.mode ?? "quote";
      for (const s of payload?.symbols ?? []) socket.data[setOf(mode)].delete(s);
      if (typeof ack === "function") ack({ ok: true, unsubscribed: payload?.symbols ?? [] });
    });
    socket.on("auth:refresh", (payload, ack) => {
      const claims = accessTokens.get(payload?.token ?? "");
      if (typeof ack === "function") ack(claims ? { ok: true, exp: claims.exp } : { ok: false, code: "unauthorized", message: "bad token" });
    });
  });

  // Bars: each subscribed symbol's last two (the final just closed, if any, and the open one) once a second.
  const barTimer = setInterval(() => {
    for (const socket of io.of("/").sockets.values()) {
      const out = [...socket.data.bars].flatMap((s) => (bars.get(s) ?? []).slice(-2));
      if (out.length) socket.emit("bars", out);
    }
  }, 1000);

  // The market: every 100 ms about a third of the symbols somebody watches move.
  const market = setInterval(() => {
    const moved = new Map();
    for (const socket of io.of("/").sockets.values()) {
      const batch = [];
      for (const symbol of socket.data.quotes) {
        if (!moved.has(symbol) && Math.random() < 0.3) moved.set(symbol, tickFor(symbol));
        if (moved.has(symbol)) batch.push(moved.get(symbol));
      }
      if (batch.length) socket.emit("ticks", batch);
      const depth = [...socket.data.depth].map(depthFor);
      if (depth.length) socket.emit("depth", depth);
    }
  }, 100);

  await new Promise((done) => http.listen(port, host, done));
  const address = http.address();
  return {
    url: `http://${host}:${address.port}`,
    killUrl: `http://${host}:${address.port}/__mock/kill`,
    close: () =>
      new Promise((done) => {
        clearInterval(market);
        clearInterval(barTimer);
        io.close(() => done());
      }),
  };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const at = process.argv.indexOf("--port");
  const stack = await startMockStack({ port: at > 0 ? Number(process.argv[at + 1]) : 8080 });
  console.log(`mock stack on ${stack.url} (kill: POST ${stack.killUrl})`);
  const stop = () => stack.close().then(() => process.exit(0));
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
}
