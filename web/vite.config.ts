import { defineConfig } from "vitest/config";
import react from "@vitejs/plugin-react";

// The dev server stands where nginx stands in production: one origin serving the app,
// `/auth` (auth service) and `/socket.io` (a gateway). Override the targets with
// LIVEWS_AUTH_URL / LIVEWS_GATEWAY_URL.
const authTarget = process.env.LIVEWS_AUTH_URL ?? "http://127.0.0.1:8001";
const gatewayTarget = process.env.LIVEWS_GATEWAY_URL ?? "http://127.0.0.1:8002";

export default defineConfig({
  plugins: [react()],
  server: {
    proxy: {
      "/auth": { target: authTarget, changeOrigin: false },
      "/socket.io": { target: gatewayTarget, ws: true, changeOrigin: false },
    },
  },
  build: {
    outDir: "dist",
    sourcemap: true,
  },
  test: {
    environment: "node",
    include: ["src/**/*.test.ts", "src/**/*.test.tsx"],
    testTimeout: 10_000,
  },
});
