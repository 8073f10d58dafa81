/**
 * Counts the rendering work per frame of the benchmark page (`?bench=synthetic`, the same
 * load as frames.bench.mjs) from a Chromium trace, which noise on a shared machine disturbs far
 * less than frame times: per frame the number of style recalculations and the elements they
 * touched, layouts and the objects they laid out, paints, and their durations.
 *
 *   node bench/trace.bench.mjs            (after `vite build`; prints JSON)
 *   LIVEWS_TRACE_SECONDS (default 4), LIVEWS_BENCH_SYMBOLS / _RATE / _BATCHES / _SPARKLINES as frames.bench.mjs
 */
import { chromium } from "playwright-core";
import { startMockStack } from "../e2e/mockStack.mjs";

const env = process.env;
const SECONDS = Number(env.LIVEWS_TRACE_SECONDS ?? 4);
const SYMBOLS = Number(env.LIVEWS_BENCH_SYMBOLS ?? 200);
const RATE = Number(env.LIVEWS_BENCH_RATE ?? 10);
const BATCHES = Number(env.LIVEWS_BENCH_BATCHES ?? 50);
const SPARKLINES = env.LIVEWS_BENCH_SPARKLINES !== "0";
const CATEGORIES = ["devtools.timeline", "disabled-by-default-devtools.timeline", "blink"].join(",");

/** Sums of the main thread's rendering events over the trace, divided by the frames drawn. */
function summarise(events, seconds) {
  const main = events.find((e) => e.name === "thread_name" && e.args?.name === "CrRendererMain");
  const onMain = (e) => main === undefined || (e.pid === main.pid && e.tid === main.tid);
  const totals = {};
  const add = (key, value) => (totals[key] = (totals[key] ?? 0) + value);
  let frames = 0;
  for (const e of events) {
    if (e.name === "WebFrameWidgetImpl::UpdateLifecycle") frames += 1;
    if (e.name === "Frame::Detach") add("documents_detached", 1);
    if (e.name === "PendingAnimations::notifyCompositorAnimationStarted") add("compositor_animations", 1);
    if (!onMain(e) || e.ph !== "X") continue;
    const ms = (e.dur ?? 0) / 1000;
    switch (e.name) {
      case "UpdateLayoutTree":
      case "RecalculateStyles":
        add("style_recalcs", 1);
        add("style_ms", ms);
        add("style_elements", e.args?.elementCount ?? e.args?.data?.elementCount ?? 0);
        break;
      case "Layout":
        add("layouts", 1);
        add("layout_ms", ms);
        add("layout_objects", e.args?.beginData?.dirtyObjects ?? 0);
        if (e.args?.beginData?.partialLayout === false) add("full_layouts", 1);
        break;
      case "Paint":
        add("paints", 1);
        add("paint_ms", ms);
        break;
      case "PrePaint":
        add("prepaint_ms", ms);
        break;
      case "Layerize":
      case "UpdateLayer":
      case "UpdateLayerTree":
        add("layerize_ms", ms);
        break;
      case "FunctionCall":
      case "EvaluateScript":
      case "TimerFire":
      case "FireAnimationFrame":
        add("script_ms", ms);
        break;
      default:
    }
  }
  const perFrame = Object.fromEntries(Object.entries(totals).map(([k, v]) => [k, Math.round((v / Math.max(frames, 1)) * 100) / 100]));
  return { seconds, frames, fps: Math.round((frames / seconds) * 10) / 10, per_frame: perFrame };
}

const stack = await startMockStack();
const browser = await chromium.launch({
  executablePath: env.LIVEWS_E2E_CHROMIUM ?? "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"],
  headless: true,
});
try {
  const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
  await page.goto(`${stack.url}/?bench=synthetic&symbols=${SYMBOLS}&rate=${RATE}&batches=${BATCHES}&sparklines=${SPARKLINES ? 1 : 0}`);
  // Filled board, and the chart open with the day's bars (a build without a chart: the board only).
  await page.waitForFunction(
    (n) =>
      [...document.querySelectorAll('[data-testid="cell-ltp"]')].filter((c) => c.textContent !== "—").length >= n &&
      (document.querySelector('[data-testid="chart-panel"]') === null || Number(document.querySelector('[data-testid="chart"]')?.dataset.bars ?? 0) >= 100),
    SYMBOLS,
    { timeout: 30_000 },
  );
  // LIVEWS_TRACE_HIDE: a CSS selector hidden (display: none) during the trace, to see what a part costs.
  if (env.LIVEWS_TRACE_HIDE) await page.addStyleTag({ content: `${env.LIVEWS_TRACE_HIDE} { display: none !important; }` });
  await page.waitForTimeout(2000);
  const cdp = await page.context().newCDPSession(page);
  const events = [];
  cdp.on("Tracing.dataCollected", ({ value }) => events.push(...value));
  const done = new Promise((resolve) => cdp.once("Tracing.tracingComplete", resolve));
  await cdp.send("Tracing.start", { categories: CATEGORIES, transferMode: "ReportEvents" });
  await page.waitForTimeout(SECONDS * 1000);
  await cdp.send("Tracing.end");
  await done;
  if (env.LIVEWS_TRACE_PAINTS) {
    const paints = {};
    for (const e of events) {
      if (e.name !== "Paint" || e.ph !== "X") continue;
      const c = e.args?.data?.clip ?? [];
      const key = `node ${e.args?.data?.nodeId} ${Math.round(c[2] - c[0])}x${Math.round(c[5] - c[1])} @${Math.round(c[0])},${Math.round(c[1])}`;
      paints[key] = (paints[key] ?? 0) + 1;
    }
    console.error(Object.entries(paints).sort((a, b) => b[1] - a[1]).slice(0, 25));
  }
  if (env.LIVEWS_TRACE_NAMES) {
    const names = {};
    for (const e of events) names[e.name] = (names[e.name] ?? 0) + 1;
    console.error(Object.entries(names).sort((a, b) => b[1] - a[1]).slice(0, 40));
  }
  console.log(JSON.stringify(summarise(events, SECONDS)));
} finally {
  await browser.close();
  await stack.close();
}
