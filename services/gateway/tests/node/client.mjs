// A Node socket.io-client driven by the gateway tests over stdin/stdout, one JSON per line.
//
//   node client.mjs <url> [token]
//
// Out (stdout): {"event": "<name>", "data": ...} for every server event and for
// connect / connect_error / disconnect, and {"event": "ack", "id": n, "data": ...} for acks.
// In (stdin): {"op": "emit", "id": n, "event": "subscribe", "data": {...}} — emit with an ack;
//             {"op": "disconnect"}; {"op": "exit"}.
import { createInterface } from "node:readline";
import { io } from "socket.io-client";

const [url, token] = process.argv.slice(2);
const out = (obj) => process.stdout.write(JSON.stringify(obj) + "\n");

const socket = io(url, {
  path: "/socket.io",
  transports: ["websocket"],
  reconnection: false,
  auth: token === undefined ? {} : { token },
});

socket.on("connect", () => out({ event: "connect", data: { id: socket.id } }));
socket.on("connect_error", (err) => out({ event: "connect_error", data: { message: err.message, data: err.data ?? null } }));
socket.on("disconnect", (reason) => out({ event: "disconnect", data: reason }));
socket.onAny((event, ...args) => out({ event, data: args.length === 1 ? args[0] : args }));

const input = createInterface({ input: process.stdin });
input.on("line", (line) => {
  if (!line.trim()) return;
  const cmd = JSON.parse(line);
  if (cmd.op === "emit") {
    socket.timeout(10_000).emit(cmd.event, cmd.data, (err, ack) => {
      out({ event: "ack", id: cmd.id, data: err ? { timeout: true } : ack });
    });
  } else if (cmd.op === "disconnect") {
    socket.disconnect();
  } else if (cmd.op === "exit") {
    socket.disconnect();
    process.exit(0);
  }
});
input.on("close", () => {
  socket.disconnect();
  process.exit(0);
});
