// A LiveWebsocket market-data client in Node (socket.io-client), as docs/clients.md shows it.
//
//   npm install socket.io-client
//   LIVEWS_URL=https://markets.example.com \
//   LIVEWS_CLIENT_ID=reporting LIVEWS_CLIENT_SECRET=... \
//   node node_client.mjs NSE:SBIN-EQ NSE:RELIANCE-EQ
//
// A service gets its token with the client-credentials grant (LIVEWS_CLIENT_ID and
// LIVEWS_CLIENT_SECRET); a program acting for a signed-in user passes that user's access
// token in LIVEWS_TOKEN instead. Prints one line per event. Stops after LIVEWS_MAX_TICKS
// ticks when that is set, else runs until interrupted or told to stay away (bye with
// reconnect: false). Node 18+ (global fetch).
import { io } from "socket.io-client";

const URL = process.env.LIVEWS_URL ?? "http://127.0.0.1:8080";
const MAX_TICKS = Number(process.env.LIVEWS_MAX_TICKS ?? "0");
const symbols = process.argv.length > 2 ? process.argv.slice(2) : ["NSE:SBIN-EQ"];
const say = (...parts) => console.log(parts.join(" "));

let token = process.env.LIVEWS_TOKEN ?? "";
let expiresAt = token ? Infinity : 0;

// A service token from POST /auth/oauth/token, fetched again shortly before it expires.
async function getToken() {
  if (Date.now() < expiresAt - 60_000) return token;
  const basic = Buffer.from(
    `${process.env.LIVEWS_CLIENT_ID}:${process.env.LIVEWS_CLIENT_SECRET}`,
  ).toString("base64");
  const response = await fetch(`${URL}/auth/oauth/token`, {
    method: "POST",
    headers: { Authorization: `Basic ${basic}`, "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ grant_type: "client_credentials", scope: "md:read" }),
  });
  if (!response.ok) throw new Error(`token: ${response.status} ${await response.text()}`);
  const body = await response.json();
  token = body.access_token;
  expiresAt = Date.now() + body.expires_in * 1000;
  return token;
}

// Default options: socket.io-client reconnects by itself (with backoff) after a lost
// connection, which is how the gateway ends one after a bye with reconnect: true. `auth`
// as a function is called again on every (re)connect, so each attempt has a fresh token.
const socket = io(URL, {
  transports: ["websocket"],
  auth: (send) =>
    getToken().then(
      (t) => send({ token: t }),
      (err) => {
        say("token_error", err.message); // e.g. 401 invalid_client: wrong id or secret
        send({});
      },
    ),
});

const latest = new Map(); // symbol -> seq of the newest tick held
let ticksSeen = 0;

function merge(tick) {
  const held = latest.get(tick.symbol);
  if (held !== undefined && tick.seq <= held) return; // not newer: ignore
  if (held !== undefined && tick.seq > held + 1) say("conflated", tick.symbol, `seq ${held} -> ${tick.seq}`);
  latest.set(tick.symbol, tick.seq);
  ticksSeen += 1;
  say("tick", tick.symbol, tick.seq, tick.ltp);
  if (MAX_TICKS && ticksSeen >= MAX_TICKS) socket.disconnect();
}

socket.on("connect", async () => {
  say("connected");
  // Subscriptions belong to a connection: subscribe again after every (re)connect.
  const ack = await socket.timeout(10_000).emitWithAck("subscribe", { symbols, mode: "quote" });
  say("subscribed", ack.subscribed.join(" "), "rejected", ack.rejected.length);
});
socket.on("snapshot", (data) => {
  for (const tick of data.ticks ?? []) {
    latest.delete(tick.symbol); // a snapshot restarts that symbol's seq rule
    merge(tick);
  }
  for (const depth of data.depth ?? []) say("depth", depth.symbol);
});
socket.on("ticks", (batch) => batch.forEach(merge));
socket.on("depth", (batch) => batch.forEach((book) => say("depth", book.symbol)));
socket.on("status", (data) => say("status", data.upstream));
socket.on("auth:expiring", async () => {
  const ack = await socket.timeout(10_000).emitWithAck("auth:refresh", { token: await getToken() });
  say("refreshed", ack.ok);
});
socket.on("bye", (data) => say("bye", data.code, data.reconnect ? "reconnect" : "stay-away"));
socket.on("connect_error", (err) => {
  say("connect_error", err.message);
  // Refused by the server (err.data.code "unauthorized"/"forbidden"/"rate_limited"):
  // socket.io-client does not retry that by itself (socket.active is false).
  if (!socket.active) process.exit(1);
});
socket.on("disconnect", (reason) => {
  say("disconnected", reason);
  // "io server disconnect" follows a bye with reconnect: false — socket.io-client does not
  // reconnect after it, and neither should we with the same token.
  if (reason === "io server disconnect" || reason === "io client disconnect") process.exit(0);
});
