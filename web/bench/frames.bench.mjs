/**
 * Frame-time benchmark: the built dashboard in headless Chromium, fed 200 symbols × 10
 * updates/s of synthetic ticks (`?bench=synthetic`) through the page's own feed handlers,
 * frame coalescer, React state and memoized rows — everything but the socket — with the chart
 * of the selected symbol open and a sparkline in every row (one-minute bars of the day, the
 * open bar of every symbol updated once a second). Frame times are the intervals between
 * requestAnimationFrame callbacks over LIVEWS_BENCH_SECONDS (10 s). It also records the size
 * of the JavaScript the page loads (dist/assets, without the benchmark's own chunk).
 *
 * Prints the numbers and writes ../bench/results/web_frames.json in the shape every
 * benchmark of the repository writes (bench/_results.py). `npm run bench` builds first.
 *
 *   LIVEWS_BENCH_SECONDS   measuring time (default 10)
 *   LIVEWS_BENCH_SYMBOLS   symbols on the board (default 200)
 *   LIVEWS_BENCH_RATE      updates per second per symbol (default 10)
 *   LIVEWS_BENCH_BATCHES   socket frames per second carrying them (default 50)
 *   LIVEWS_BENCH_SPARKLINES  0 = sparklines off (to compare; default on)
 *   LIVEWS_BENCH_BASELINE  optional: a web_frames.json of another build (e.g. an older commit's
 *                          `node bench/frames.bench.mjs`, run just before in the same conditions);
 *                          its frame figures are recorded as baseline_* beside this run's
 *   LIVEWS_BENCH_BASELINE_NAME  what that build is (for the notes), e.g. a commit
 *   LIVEWS_E2E_CHROMIUM    the browser (default /usr/bin/chromium)
 */
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { gzipSync } from "node:zlib";
import os from "node:os";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { startMockStack } from "../e2e/mockStack.mjs";

const env = process.env;
const SECONDS = Number(env.LIVEWS_BENCH_SECONDS ?? 10);
const SYMBOLS = Number(env.LIVEWS_BENCH_SYMBOLS ?? 200);
const RATE = Number(env.LIVEWS_BENCH_RATE ?? 10);
const BATCHES = Number(env.LIVEWS_BENCH_BATCHES ?? 50);
const SPARKLINES = env.LIVEWS_BENCH_SPARKLINES !== "0";
const WARMUP_MS = 2000;
const RESULTS = fileURLToPath(new URL("../../bench/results/", import.meta.url));
const ASSETS = fileURLToPath(new URL("../dist/assets/", import.meta.url));
const VIEWPORT = { width: 1440, height: 900 };
/** The app's JavaScript before issue #16 (commit 469d0f8: no chart library), for comparison. */
const BUNDLE_BEFORE_KB = 259.67;
const BUNDLE_BEFORE_GZIP_KB = 85.38;

/** Size of the app's JavaScript in dist/assets (kB, raw and gzip -9), the benchmark chunk excluded. */
function bundleSize() {
  let raw = 0;
  let gzip = 0;
  for (const name of readdirSync(ASSETS)) {
    if (!name.endsWith(".js") || name.startsWith("BenchApp")) continue;
    const bytes = readFileSync(`${ASSETS}${name}`);
    raw += bytes.length;
    gzip += gzipSync(bytes, { level: 9 }).length;
  }
  return { raw: raw / 1000, gzip: gzip / 1000 };
}
const CHROMIUM_ARGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/** Nearest-rank percentile, as bench/_results.py computes it. */
function percentile(values, pct) {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.max(1, Math.min(sorted.length, Math.round((pct / 100) * sorted.length + 0.5)));
  return sorted[rank - 1];
}

const round = (v, digits = 3) => Math.round(v * 10 ** digits) / 10 ** digits;

async function measure(page, durationMs) {
  return page.evaluate(
    (durationMs) =>
      new Promise((resolve) => {
        const frames = [];
        const longTasks = [];
        const observer = new PerformanceObserver((list) => {
          for (const entry of list.getEntries()) longTasks.push(entry.duration);
        });
        observer.observe({ type: "longtask" });
        const before = { ...window.__livewsBench };
        let start = 0;
        let last = 0;
        const frame = (t) => {
          frames.push(t - last);
          last = t;
          if (t - start < durationMs) requestAnimationFrame(frame);
          else {
            observer.disconnect();
            resolve({ frames, longTasks, before, after: { ...window.__livewsBench }, elapsedMs: t - start });
          }
        };
        requestAnimationFrame((t) => {
          start = last = t;
          requestAnimationFrame(frame);
        });
      }),
    durationMs,
  );
}

async function main() {
  const loadAtStart = os.loadavg()[0];
  const stack = await startMockStack(); // only its static file server is used
  const browser = await chromium.launch({
    executablePath: env.LIVEWS_E2E_CHROMIUM ?? "/usr/bin/chromium",
    args: CHROMIUM_ARGS,
    headless: true,
  });
  try {
    const page = await browser.newPage({
      viewport: VIEWPORT,
      reducedMotion: env.LIVEWS_BENCH_REDUCED_MOTION === "1" ? "reduce" : "no-preference",
    });
    const errors = [];
    page.on("pageerror", (err) => errors.push(String(err)));
    await page.goto(`${stack.url}/?bench=synthetic&symbols=${SYMBOLS}&rate=${RATE}&batches=${BATCHES}&sparklines=${SPARKLINES ? 1 : 0}`);
    await page.waitForFunction(
      (n) => [...document.querySelectorAll('[data-testid="cell-ltp"]')].filter((c) => c.textContent !== "—").length >= n,
      SYMBOLS,
      { timeout: 30_000 },
    );
    // The chart of the selected symbol is open and the rows draw their sparklines.
    await page.waitForFunction(() => Number(document.querySelector('[data-testid="chart"]')?.dataset.bars ?? 0) >= 100, null, {
      timeout: 30_000,
    });
    if (SPARKLINES) {
      await page.waitForFunction(() => document.querySelectorAll('[data-testid="sparkline"]:not([data-points=""])').length >= 20, null, {
        timeout: 30_000,
      });
    }
    await page.waitForTimeout(WARMUP_MS);
    const view = await page.evaluate(() => ({
      chartBars: Number(document.querySelector('[data-testid="chart"]').dataset.bars),
      sparklines: document.querySelectorAll('[data-testid="sparkline"]:not([data-points=""])').length,
    }));
    const cdp = await page.context().newCDPSession(page);
    await cdp.send("Performance.enable");
    const busy = async () => {
      const { metrics } = await cdp.send("Performance.getMetrics");
      return metrics.find((m) => m.name === "TaskDuration")?.value ?? Number.NaN;
    };
    const busyBefore = await busy();
    const run = await measure(page, SECONDS * 1000);
    const busySeconds = (await busy()) - busyBefore;
    if (errors.length > 0) throw new Error(`page errors: ${errors.join("; ")}`);

    const bundle = bundleSize();
    const baseline = env.LIVEWS_BENCH_BASELINE ? JSON.parse(readFileSync(env.LIVEWS_BENCH_BASELINE, "utf8")) : null;
    const seconds = run.elapsedMs / 1000;
    const frames = run.frames;
    const ticksPerS = (run.after.received - run.before.received) / seconds;
    const rendersPerS = (run.after.flushes - run.before.flushes) / seconds;
    const metrics = {
      frame_p50_ms: [percentile(frames, 50), "ms"],
      frame_p95_ms: [percentile(frames, 95), "ms"],
      frame_p99_ms: [percentile(frames, 99), "ms"],
      frame_max_ms: [Math.max(...frames), "ms"],
      fps: [frames.length / seconds, "frames/s"],
      frames_over_50ms: [frames.filter((f) => f > 50).length, "frames"],
      long_tasks: [run.longTasks.length, "tasks"],
      long_task_total_ms: [run.longTasks.reduce((a, b) => a + b, 0), "ms"],
      ticks_received_per_s: [ticksPerS, "ticks/s"],
      board_updates_per_s: [rendersPerS, "flushes/s"],
      main_thread_busy_pct: [(busySeconds / seconds) * 100, "%"],
      symbols: [SYMBOLS, "symbols"],
      chart_bars: [view.chartBars, "bars"],
      sparklines_drawn: [view.sparklines, "rows"],
      bundle_js_kb: [bundle.raw, "kB"],
      bundle_js_gzip_kb: [bundle.gzip, "kB"],
      bundle_js_kb_before: [BUNDLE_BEFORE_KB, "kB"],
      bundle_js_gzip_kb_before: [BUNDLE_BEFORE_GZIP_KB, "kB"],
    };
    if (baseline !== null) {
      for (const key of ["frame_p50_ms", "frame_p95_ms", "frame_p99_ms", "frame_max_ms", "fps", "long_tasks", "main_thread_busy_pct", "ticks_received_per_s"]) {
        const metric = baseline.metrics[key];
        if (metric !== undefined) metrics[`baseline_${key}`] = [metric.value, metric.unit];
      }
    }
    const doc = {
      name: "web_frames",
      when: new Date().toISOString().replace(/\.\d{3}Z$/, "Z"),
      machine: {
        node: process.version,
        platform: `${os.type()}-${os.release()}-${os.arch()}`,
        cpus: os.cpus().length,
        chromium: browser.version(),
        loadavg_1m_at_start: round(loadAtStart, 2),
      },
      metrics: Object.fromEntries(Object.entries(metrics).map(([k, [v, unit]]) => [k, { value: round(v), unit }])),
      notes:
        `Headless Chromium (--disable-gpu, software rendering), ${VIEWPORT.width}x${VIEWPORT.height}, ${SYMBOLS} symbols x ${RATE} updates/s of ` +
        `synthetic ticks in ${BATCHES} batches/s (paced by elapsed time, so a late timer sends more, as a socket would have queued) ` +
        `through the page's feed handlers, per-frame coalescer and memoized rows (no socket; rows out of view refreshed about once a ` +
        `second), with the selected symbol's candlestick chart open and a sparkline in every row (one-minute bars, each symbol's open ` +
        `bar updated once a second; sparklines_drawn = those drawn, i.e. in view); ` +
        `frame time = interval between requestAnimationFrame callbacks over ${SECONDS} s after ${WARMUP_MS / 1000} s warm-up. ` +
        `Long tasks are main-thread tasks over 50 ms. Shared 2-core machine: compare runs, not absolutes. ` +
        `bundle_js_* = the app's JavaScript in dist/assets without the benchmark chunk (gzip -9); *_before = the same at ` +
        `commit 469d0f8, before the chart library (vite's own report then: 259.67 kB, 85.38 kB gzip).` +
        (baseline === null
          ? ""
          : ` baseline_* = the same benchmark of ${env.LIVEWS_BENCH_BASELINE_NAME ?? "another build"} run just before this one ` +
            `(with its own page and its own synthetic feed), for a comparison under the same machine load.`),
    };
    mkdirSync(RESULTS, { recursive: true });
    writeFileSync(`${RESULTS}web_frames.json`, JSON.stringify(doc, null, 2) + "\n");
    const width = Math.max(...Object.keys(metrics).map((k) => k.length));
    console.log("== web_frames");
    for (const [key, [value, unit]] of Object.entries(metrics)) {
      console.log(`  ${key.padEnd(width)}  ${value.toFixed(3).padStart(14)} ${unit}`);
    }
    console.log(`  note: ${doc.notes}`);
    console.log(`wrote ${RESULTS}web_frames.json`);
  } finally {
    await browser.close();
    await stack.close();
  }
}

await main();
