/**
 * End-to-end test of the dashboard in headless Chromium, against the whole stack behind one
 * origin (nginx in front of auth and the gateways), or against e2e/mockStack.mjs when no
 * stack is given.
 *
 *   LIVEWS_E2E_URL        base URL of the stack, e.g. http://127.0.0.1:8080 (unset → mock stack,
 *                         which serves web/dist: run `npm run build` first)
 *   LIVEWS_E2E_KILL_URL   optional: POSTed to drop the page's gateway connection (kill a gateway)
 *   LIVEWS_E2E_KILL_CMD   optional: a shell command doing the same, instead of the URL
 *   LIVEWS_E2E_FY_ID      the Fyers user id typed into the login page (default XY12345)
 *   LIVEWS_E2E_MIN_FILLED rows that must show a price for "the board fills" (default: all 52)
 *   LIVEWS_E2E_CHROMIUM   the browser (default /usr/bin/chromium)
 *   LIVEWS_E2E_ARTIFACTS  where screenshots go (default web/test-results)
 *   LIVEWS_E2E_FORMAT     tick encoding the page must use: compact (default) or json (set in
 *                         localStorage livews.format; checked on the page's websocket frames)
 *   LIVEWS_E2E_EMULATOR_URL  optional: the Fyers emulator, whose /admin/market closes the market
 *                         (no trades → every row goes stale: the stale marks must not truncate names)
 *   LIVEWS_E2E_MARKET_CLOSES  optional: set when the ingestor's session clock reaches the close
 *                         during the run; the header must then say "Market closed" (from `status`)
 *   LIVEWS_E2E_BAR_MS     optional: the ingestor's bar period (MARKETDATA_BAR_SECONDS × 1000);
 *                         set, the chart must show a new bar roll in (default: 60 s bars, not waited for)
 *
 * Run: `npm run e2e` (node's test runner). The steps share one page and run in order.
 */
import { execSync } from "node:child_process";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const env = process.env;
const FY_ID = env.LIVEWS_E2E_FY_ID ?? "XY12345";
const ARTIFACTS = env.LIVEWS_E2E_ARTIFACTS ?? fileURLToPath(new URL("../test-results/", import.meta.url));
const DEFAULT_ROWS = 52;
const MIN_FILLED = Number(env.LIVEWS_E2E_MIN_FILLED ?? DEFAULT_ROWS);
const STEP_TIMEOUT = 60_000;
const FORMAT = env.LIVEWS_E2E_FORMAT ?? "compact";
const EMULATOR = env.LIVEWS_E2E_EMULATOR_URL ?? null;
const BAR_MS = env.LIVEWS_E2E_BAR_MS ? Number(env.LIVEWS_E2E_BAR_MS) : null;
const MARKET_CLOSES = Boolean(env.LIVEWS_E2E_MARKET_CLOSES);
const LAPTOP = { width: 1440, height: 900 };
const PHONE = { width: 375, height: 812 };
export const CHROMIUM_ARGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

const ROW = '[data-testid="board-row"]';
const row = (symbol) => `${ROW}[data-symbol="${symbol}"]`;

/** Every visible row at one instant: symbol, LTP text and change % text. */
function readBoard(page) {
  return page.$$eval(ROW, (rows) =>
    rows.map((r) => ({
      symbol: r.dataset.symbol,
      ltp: r.querySelector('[data-testid="cell-ltp"]')?.textContent ?? "",
      pct: r.querySelector('[data-testid="cell-change-pct"]')?.textContent ?? "",
      name: r.querySelector('[data-col="symbol"] .name')?.textContent ?? "",
    })),
  );
}

const num = (text) => (text === "—" || text === "" ? Number.NaN : Number(text.replace(/[,%+]/g, "")));

async function waitForBoardChange(page, before, minChanged, timeout) {
  const prices = new Map(before.map((r) => [r.symbol, r.ltp]));
  await page.waitForFunction(
    ({ prices, minChanged }) => {
      let changed = 0;
      for (const r of document.querySelectorAll('[data-testid="board-row"]')) {
        const text = r.querySelector('[data-testid="cell-ltp"]')?.textContent;
        if (prices[r.dataset.symbol] !== undefined && text !== prices[r.dataset.symbol]) changed += 1;
      }
      return changed >= minChanged;
    },
    { prices: Object.fromEntries(prices), minChanged },
    { timeout, polling: 100 },
  );
}

/** Names cut by their cell (text-overflow): none may be, stale mark or not. */
function truncatedNames(page) {
  return page.evaluate(() => {
    // Rows out of view skip layout (content-visibility: auto): lay every row out to measure it.
    const all = document.createElement("style");
    all.textContent = '[data-testid="board-row"] { content-visibility: visible !important; }';
    document.head.append(all);
    try {
      return [...document.querySelectorAll('[data-testid="board-row"] [data-col="symbol"] .name')]
        .filter((n) => n.scrollWidth > n.clientWidth)
        .map((n) => `${n.textContent} ${n.scrollWidth}>${n.clientWidth}`);
    } finally {
      all.remove();
    }
  });
}

/** Pixels of the chart's canvases in a saturated colour: candles and volume (the grid, axes and text are grey). */
function candlePixels(page) {
  return page.$$eval('[data-testid="chart"] canvas', (canvases) => {
    let count = 0;
    for (const canvas of canvases) {
      const ctx = canvas.getContext("2d");
      if (!ctx || canvas.width === 0 || canvas.height === 0) continue;
      const data = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
      for (let i = 0; i < data.length; i += 4) {
        const r = data[i], g = data[i + 1], b = data[i + 2];
        if (data[i + 3] > 200 && Math.max(r, g, b) - Math.min(r, g, b) > 90) count += 1;
      }
    }
    return count;
  });
}

async function typeInto(page, testId, text) {
  const input = page.getByTestId(testId);
  await input.fill("");
  await input.fill(text);
  return input;
}

/** Follow the sign-in redirects, filling the Fyers (emulator) login form when one shows. */
async function signIn(page, base) {
  await page.getByTestId("sign-in-button").click();
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    await page.waitForLoadState("domcontentloaded");
    if (page.url().startsWith(base) && (await page.getByTestId("board").count()) > 0) return;
    const field = page.locator('[name="fy_id"]').first();
    if ((await field.count()) > 0 && (await field.isVisible())) {
      if ((await field.evaluate((el) => el.tagName)) === "SELECT") {
        const values = await field.evaluate((el) => [...el.options].map((o) => o.value));
        await field.selectOption(values.includes(FY_ID) ? FY_ID : values[0]);
      } else {
        await field.fill(FY_ID);
      }
      // Submit the field's own form, whatever its button looks like, and wait to leave the page.
      const left = page
        .waitForURL((u) => !u.toString().includes("generate-authcode") || u.toString().includes("fy_id="), { timeout: 15_000 })
        .catch(() => undefined);
      await field.evaluate((el) => el.form.requestSubmit());
      await left;
      continue;
    }
    if (/generate-authcode/.test(page.url()) && !page.url().includes("fy_id=")) {
      const url = new URL(page.url());
      url.searchParams.set("fy_id", FY_ID);
      await page.goto(url.toString());
      continue;
    }
    await page.waitForTimeout(200);
  }
  throw new Error(`sign-in did not come back to the board; stuck at ${page.url()}`);
}

async function killGateway(killUrl) {
  if (env.LIVEWS_E2E_KILL_CMD) {
    execSync(env.LIVEWS_E2E_KILL_CMD, { stdio: "inherit", timeout: 30_000 });
    return;
  }
  const response = await fetch(killUrl, { method: "POST" });
  assert.ok(response.ok, `kill hook ${killUrl} answered ${response.status}`);
}

describe("dashboard end to end", { timeout: 10 * STEP_TIMEOUT }, () => {
  let browser;
  let context;
  let page;
  let base;
  let mock = null;
  const pageErrors = [];
  // Served through the repository's nginx, the page runs under its Content-Security-Policy:
  // Chromium reports every blocked script, style or connection on the console.
  const cspViolations = [];
  // Console errors (a missing favicon's 404 was one on every load); the kill step expects some.
  const consoleErrors = [];
  // Shapes of the `ticks` frames the page received: rows (compact) or Tick objects (json).
  const tickShapes = new Set();

  before(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    if (env.LIVEWS_E2E_URL) {
      base = env.LIVEWS_E2E_URL.replace(/\/$/, "");
    } else {
      const { startMockStack } = await import("./mockStack.mjs");
      mock = await startMockStack();
      base = mock.url;
    }
    browser = await chromium.launch({
      executablePath: env.LIVEWS_E2E_CHROMIUM ?? "/usr/bin/chromium",
      args: CHROMIUM_ARGS,
      headless: true,
    });
    // The system asks for dark: the page must follow it until the user picks a theme.
    context = await browser.newContext({ viewport: LAPTOP, colorScheme: "dark" });
    await context.addInitScript((format) => localStorage.setItem("livews.format", format), FORMAT);
    page = await context.newPage();
    page.on("websocket", (ws) =>
      ws.on("framereceived", ({ payload }) => {
        const text = typeof payload === "string" ? payload : "";
        if (text.startsWith('42["ticks",[[')) tickShapes.add("compact");
        else if (text.startsWith('42["ticks",[{')) tickShapes.add("json");
      }),
    );
    page.setDefaultTimeout(20_000);
    page.on("pageerror", (err) => pageErrors.push(err));
    page.on("console", (msg) => {
      if (/Content Security Policy/i.test(msg.text())) cspViolations.push(msg.text());
      // Only the dashboard's own origin counts (the Fyers login page is someone else's), and the
      // 401 of the signed-out visit's POST /auth/token is how the page learns it is signed out.
      const where = msg.location()?.url ?? "";
      if (msg.type() === "error" && base !== undefined && where.startsWith(base) && !/\/auth\/token$/.test(where)) {
        consoleErrors.push(`${msg.text()} ${where}`);
      }
    });
  });

  after(async () => {
    await browser?.close();
    await mock?.close();
  });

  it("shows a signed-out visitor the sign-in page", { timeout: STEP_TIMEOUT }, async () => {
    await page.goto(`${base}/`);
    await page.getByTestId("sign-in-page").waitFor();
    assert.equal(await page.getByTestId("sign-in-button").getAttribute("href"), "/auth/login?next=/");
    assert.equal(await page.locator(ROW).count(), 0);
    await page.screenshot({ path: join(ARTIFACTS, "sign-in.png") });
  });

  it("signs in through the Fyers login page and fills the board", { timeout: STEP_TIMEOUT }, async () => {
    await signIn(page, base);
    assert.equal(await page.evaluate(() => document.documentElement.dataset.theme), "dark", "follows the system theme");
    await page.waitForFunction((n) => document.querySelectorAll('[data-testid="board-row"]').length >= n, DEFAULT_ROWS);
    await page.waitForFunction(
      (min) => [...document.querySelectorAll('[data-testid="cell-ltp"]')].filter((c) => c.textContent !== "—").length >= min,
      MIN_FILLED,
      { timeout: 30_000, polling: 200 },
    );
    await page.locator(row("NSE:NIFTY50-INDEX")).waitFor();
    assert.ok((await page.getByTestId("index-card").count()) >= 2, "index strip with NIFTY 50 and NIFTY BANK");
    assert.equal(await page.getByTestId("status-badge").getAttribute("data-state"), "connected");
    // The favicon is served (no 404 on the console) and the tab title follows NIFTY 50.
    const favicon = await page.evaluate(async () => (await fetch(document.querySelector('link[rel="icon"]').href)).status);
    assert.equal(favicon, 200);
    await page.waitForFunction(() => /^NIFTY 50 [\d,]+\.\d\d( [▲▼]?[\d.]+%)?$/.test(document.title), null, { timeout: 10_000 });
    assert.deepEqual(consoleErrors, [], "no console errors on load");
  });

  it("fits about 30 rows on a 1440 × 900 laptop, header and toolbar on one line each", { timeout: STEP_TIMEOUT }, async () => {
    const layout = await page.evaluate(() => {
      const board = document.querySelector('[data-testid="board"]').getBoundingClientRect();
      const rows = [...document.querySelectorAll('[data-testid="board-row"]')].filter((r) => {
        const box = r.getBoundingClientRect();
        return box.top >= board.top && box.bottom <= board.bottom + 0.5 && box.bottom <= window.innerHeight;
      });
      return {
        rows: rows.length,
        rowHeight: rows[0]?.getBoundingClientRect().height,
        header: document.querySelector("header").getBoundingClientRect().height,
        toolbar: document.querySelector('[data-testid="filter-input"]').closest("main > div").getBoundingClientRect().height,
      };
    });
    assert.ok(layout.rows >= 28, `rows in view at 1440 × 900: ${JSON.stringify(layout)}`);
    assert.ok(layout.header <= 56 && layout.toolbar <= 40, `one-line header and toolbar: ${JSON.stringify(layout)}`);
  });

  it("shows prices changing and a live latency", { timeout: STEP_TIMEOUT }, async () => {
    const before = await readBoard(page);
    await waitForBoardChange(page, before, 5, 20_000);
    await page.waitForFunction(() => !document.querySelector('[data-testid="latency"]').textContent.includes("—"));
    // The mock stack always sends Tick objects; the real gateway honours the page's format.
    if (mock === null) assert.deepEqual([...tickShapes], [FORMAT], "the page's ticks came in the asked encoding");
  });

  it("filters by text and by quick filter", { timeout: STEP_TIMEOUT }, async () => {
    await typeInto(page, "filter-input", "SBIN");
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="board-row"]').length === 1);
    assert.deepEqual((await readBoard(page)).map((r) => r.symbol), ["NSE:SBIN-EQ"]);
    await typeInto(page, "filter-input", "");

    await page.getByTestId("quick-filter-indices").click();
    const indices = await readBoard(page);
    assert.ok(indices.length >= 2 && indices.every((r) => r.symbol.endsWith("-INDEX")), JSON.stringify(indices));
    await page.getByTestId("quick-filter-gainers").click();
    // The sign, not the rounded number: +0.004 % shows as "+0.00%" and is still a gain.
    for (const r of await readBoard(page)) assert.ok(r.pct.startsWith("+"), `gainer ${r.symbol} ${r.pct}`);
    await page.getByTestId("quick-filter-losers").click();
    for (const r of await readBoard(page)) assert.ok(r.pct.startsWith("-"), `loser ${r.symbol} ${r.pct}`);
    await page.getByTestId("quick-filter-all").click();
    assert.ok((await page.locator(ROW).count()) >= DEFAULT_ROWS);
  });

  it("sorts by a column, both ways", { timeout: STEP_TIMEOUT }, async () => {
    const ordered = (values, dir) => values.every((v, i) => i === 0 || (dir === "desc" ? values[i - 1] >= v : values[i - 1] <= v));
    // One DOM snapshot must be in order; a second look is allowed once (one unexplained
    // inversion was seen in ~10 runs and never reproduced), a persistent mis-sort still fails.
    const assertSorted = async (dir) => {
      for (let attempt = 0; ; attempt++) {
        const board = await readBoard(page);
        const ltps = board.map((r) => num(r.ltp)).filter((v) => !Number.isNaN(v));
        if (ordered(ltps, dir)) return;
        if (attempt === 1) assert.fail(`LTP not ${dir}: ${JSON.stringify(board)}`);
        await page.waitForTimeout(100);
      }
    };
    await page.getByTestId("sort-ltp").click();
    await assertSorted("desc");
    await page.getByTestId("sort-ltp").click();
    await assertSorted("asc");
    await page.getByTestId("sort-symbol").click();
    const names = (await readBoard(page)).map((r) => r.name);
    assert.deepEqual(names, [...names].sort((a, b) => a.localeCompare(b)));
    await page.getByTestId("sort-symbol").click();
    await page.getByTestId("sort-symbol").click(); // back to watchlist order
  });

  it("adds a symbol through the search, remembers it, and shows a refusal for an unknown one", { timeout: STEP_TIMEOUT }, async () => {
    const search = await typeInto(page, "symbol-search", "sensex");
    await page.getByTestId("search-option").first().waitFor();
    await search.press("Enter");
    await page.locator(row("BSE:SENSEX-INDEX")).waitFor();
    await page.locator('[data-testid="index-card"][data-symbol="BSE:SENSEX-INDEX"]').waitFor();

    await typeInto(page, "symbol-search", "NSE:NOSUCHTHING-EQ");
    await page.getByTestId("search-add").click();
    const notice = page.getByTestId("notice").filter({ hasText: "NOSUCHTHING isn't a listed NSE/BSE symbol" });
    await notice.first().waitFor();
    await page.waitForTimeout(1_000); // a second message, if any, would be there by now
    const messages = await page.evaluate(() => ({
      notices: [...document.querySelectorAll('[data-testid="notice"]')].map((n) => n.textContent),
      search: document.querySelector('[data-testid="search-message"]')?.textContent ?? null,
    }));
    const refusals = messages.notices.filter((t) => t.includes("NOSUCHTHING"));
    assert.equal(refusals.length, 1, `exactly one message: ${JSON.stringify(messages)}`);
    assert.ok(messages.search === null || !messages.search.includes("NOSUCHTHING"), `exactly one message: ${JSON.stringify(messages)}`);
    assert.equal(await page.locator(row("NSE:NOSUCHTHING-EQ")).count(), 0);
    await notice.first().waitFor({ state: "detached", timeout: 15_000 }); // it clears itself

    // The watchlist survives a reload (and the reload renews the session from the cookie).
    await page.reload();
    await page.locator(row("BSE:SENSEX-INDEX")).waitFor();
    await page.locator(row("BSE:SENSEX-INDEX")).getByTestId("remove-symbol").click();
    await page.locator(row("BSE:SENSEX-INDEX")).waitFor({ state: "detached" });
    // Undo puts it back; removing it again leaves it gone.
    await page.getByTestId("notice").filter({ hasText: "Removed SENSEX" }).getByTestId("notice-action").click();
    await page.locator(row("BSE:SENSEX-INDEX")).waitFor();
    await page.locator(row("BSE:SENSEX-INDEX")).getByTestId("remove-symbol").click();
    await page.locator(row("BSE:SENSEX-INDEX")).waitFor({ state: "detached" });
  });

  it("shows five levels of depth for the selected row, by mouse and by keyboard", { timeout: STEP_TIMEOUT }, async () => {
    await page.locator(row("NSE:SBIN-EQ")).click();
    const panel = page.getByTestId("depth-panel");
    // Filled at once from the quote the board holds (no "Waiting for depth…"), then five levels.
    const state = await page.evaluate(() => document.querySelector('[data-testid="depth-panel"]').dataset.state);
    assert.ok(state === "quote" || state === "depth", `depth panel right after the click: ${state}`);
    await panel.getByTestId("depth-spread").waitFor({ timeout: 1_000 });
    await page.locator('[data-testid="depth-panel"][data-symbol="NSE:SBIN-EQ"]').waitFor();
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="depth-panel"] [data-testid="depth-bid"]').length === 5, null, { timeout: 20_000 });
    assert.equal(await panel.getByTestId("depth-ask").count(), 5);

    await page.locator(row("NSE:TCS-EQ")).focus();
    await page.keyboard.press("Enter");
    await page.locator('[data-testid="depth-panel"][data-symbol="NSE:TCS-EQ"]').waitFor();
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="depth-panel"] [data-testid="depth-bid"]').length === 5, null, { timeout: 20_000 });
  });

  it("charts the selected symbol's day as candles, and a new bar rolls in", { timeout: 2 * STEP_TIMEOUT }, async () => {
    await page.locator(row("NSE:SBIN-EQ")).click();
    await page.locator('[data-testid="chart-panel"][data-symbol="NSE:SBIN-EQ"]').waitFor();
    const chart = page.getByTestId("chart");
    await page.waitForFunction(() => Number(document.querySelector('[data-testid="chart"]').dataset.bars) >= 1, null, { timeout: 30_000 });
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="chart"] canvas').length > 0);
    let pixels = 0;
    for (let i = 0; i < 20 && pixels <= 100; i++) {
      await page.waitForTimeout(250);
      pixels = await candlePixels(page);
    }
    assert.ok(pixels > 100, `candles drawn (${pixels} coloured pixels)`);
    if (BAR_MS !== null) {
      const first = await chart.getAttribute("data-last-start");
      const bars = Number(await chart.getAttribute("data-bars"));
      await page.waitForFunction(
        (start) => document.querySelector('[data-testid="chart"]').dataset.lastStart !== start,
        first,
        { timeout: 3 * BAR_MS + 15_000, polling: 100 },
      );
      const after = { start: await chart.getAttribute("data-last-start"), bars: Number(await chart.getAttribute("data-bars")) };
      assert.ok(Number(after.start) > Number(first) && after.bars > bars, `a new bar: ${first}/${bars} → ${JSON.stringify(after)}`);
    }
    // Sparklines (on by default) draw the day in each row from the same bars.
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="sparkline"]:not([data-points=""])').length >= 5, null, {
      timeout: 30_000,
    });
    await page.screenshot({ path: join(ARTIFACTS, "chart.png") });
  });

  it("never truncates a symbol name, stale marks on, on a laptop and a phone", { timeout: 2 * STEP_TIMEOUT }, async (t) => {
    if (EMULATOR === null) {
      t.skip("set LIVEWS_E2E_EMULATOR_URL to close the market");
      return;
    }
    const admin = async (path) => {
      const response = await fetch(`${EMULATOR}/admin/${path}`, { method: "POST" });
      assert.ok(response.ok, `emulator /admin/${path} answered ${response.status}`);
    };
    // A closed market, and no data at all for a while (an ingestor on an open session
    // reconnects a quiet upstream, and a fresh subscription's snapshot would refresh the rows).
    // The header says the market is closed once the ingestor's session clock has passed the
    // close (the emulator's market only stops trades; the session comes from the calendar).
    if (MARKET_CLOSES) {
      const tag = page.getByTestId("market-indicator");
      await page.waitForSelector('[data-testid="market-indicator"][data-market="closed"]', { timeout: 60_000 });
      assert.equal(await tag.textContent(), "Market closed");
    }
    await admin("market?state=closed");
    await admin("stall?seconds=45");
    try {
      // No trades: after STALE_AFTER_MS every row is marked; the header says the market is closed.
      await page.waitForFunction(() => document.querySelectorAll('[data-testid="stale-marker"]').length >= 40, null, { timeout: 40_000 });
      assert.deepEqual(await truncatedNames(page), [], "no name truncated at 1440 × 900");
      const tooltip = await page.locator('[data-testid="stale-marker"]').first().getAttribute("title");
      assert.match(tooltip, /^No update since \d\d:\d\d:\d\d$/);
      await page.setViewportSize(PHONE);
      await page.waitForTimeout(300);
      assert.deepEqual(await truncatedNames(page), [], "no name truncated at 375 × 812");
      await page.screenshot({ path: join(ARTIFACTS, "stale-phone.png") });
    } finally {
      await page.setViewportSize(LAPTOP);
      await admin("stall?seconds=0");
      await admin("market?state=open");
    }
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="stale-marker"]').length < 10, null, { timeout: 30_000 });
  });

  it("switches themes, remembers the choice, and lays out on a 375 px phone", { timeout: STEP_TIMEOUT }, async () => {
    const theme = () => page.evaluate(() => document.documentElement.dataset.theme);
    assert.equal(await theme(), "dark");
    await page.screenshot({ path: join(ARTIFACTS, "board-dark.png") });
    assert.deepEqual(await truncatedNames(page), [], "no name truncated at 1440 × 900");
    await page.getByTestId("theme-toggle").click();
    assert.equal(await theme(), "light");
    const background = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
    assert.notEqual(background, "rgb(14, 17, 22)", "light background after the switch");
    await page.screenshot({ path: join(ARTIFACTS, "board-light.png") });
    await page.reload();
    await page.getByTestId("board").waitFor();
    assert.equal(await theme(), "light", "the choice outlives a reload");

    await page.setViewportSize(PHONE);
    await page.waitForFunction((n) => document.querySelectorAll('[data-testid="board-row"]').length >= n, DEFAULT_ROWS);
    const phone = await page.evaluate(() => {
      const box = (testId) => document.querySelector(`[data-testid="${testId}"]`).getBoundingClientRect();
      const bid = document.querySelector('[data-testid="board-row"] [data-col="bid"]');
      return {
        overflow: document.documentElement.scrollWidth - window.innerWidth,
        wideColumnsShown: getComputedStyle(bid).display !== "none",
        depthBelowBoard: box("depth-panel").top >= box("board").bottom - 1,
        boardWidth: box("board").width,
        header: document.querySelector("header").getBoundingClientRect().height,
        headerOverflow: document.querySelector("header").scrollWidth - document.querySelector("header").clientWidth,
        toolbar: document.querySelector('[data-testid="filter-input"]').closest("main > div").getBoundingClientRect().height,
        // Every shown column is inside the screen (none clipped at the board's edge).
        lastCellRight: document.querySelector('[data-testid="board-row"] [data-col="change_pct"]').getBoundingClientRect().right,
        boardRight: box("board").right,
        // No scrolling inside the page: the board is as tall as its rows.
        boardScrolls: (() => {
          const board = document.querySelector('[data-testid="board"]');
          return board.scrollHeight > board.clientHeight + 1;
        })(),
      };
    });
    assert.deepEqual(await truncatedNames(page), [], "no name truncated on a phone");
    assert.ok(phone.header <= 56 && phone.toolbar <= 40, `one-line header and toolbar on a phone: ${JSON.stringify(phone)}`);
    assert.ok(!phone.boardScrolls, "the phone board does not scroll inside the page");
    assert.ok(phone.lastCellRight <= phone.boardRight + 0.5 && phone.headerOverflow <= 0, `nothing cut at the right: ${JSON.stringify(phone)}`);
    assert.ok(phone.overflow <= 1, `no sideways scrolling on a phone (overflow ${phone.overflow}px)`);
    assert.ok(!phone.wideColumnsShown, "the phone board shows only symbol, LTP and changes");
    assert.ok(phone.depthBelowBoard && phone.boardWidth > 300, `phone layout stacks the board full width: ${JSON.stringify(phone)}`);
    await page.screenshot({ path: join(ARTIFACTS, "board-phone.png") });
    await page.setViewportSize(LAPTOP);
  });

  it("shows reconnecting when its gateway dies and recovers by itself", { timeout: 2 * STEP_TIMEOUT }, async (t) => {
    const killUrl = env.LIVEWS_E2E_KILL_URL ?? mock?.killUrl;
    if (!killUrl && !env.LIVEWS_E2E_KILL_CMD) {
      t.skip("set LIVEWS_E2E_KILL_URL or LIVEWS_E2E_KILL_CMD");
      return;
    }
    await page.evaluate(() => {
      const badge = document.querySelector('[data-testid="status-badge"]');
      window.__e2eStates = [badge.dataset.state];
      new MutationObserver(() => window.__e2eStates.push(badge.dataset.state)).observe(badge, {
        attributes: true,
        attributeFilter: ["data-state"],
      });
    });
    // The page's own clock: when the banner showed and the board faded, after the socket closed.
    await page.evaluate(() => {
      window.__e2eDown = null;
      const check = () => {
        const board = document.querySelector('[data-testid="board"]');
        const banner = document.querySelector('[data-testid="connection-banner"]');
        const latency = document.querySelector('[data-testid="latency"]').textContent;
        if (banner && Number(getComputedStyle(board).opacity) < 0.6 && latency.includes("—")) {
          window.__e2eDown = { at: performance.now(), text: banner.textContent };
        } else requestAnimationFrame(check);
      };
      requestAnimationFrame(check);
    });
    const chartBefore = await page.evaluate(() => ({ ...document.querySelector('[data-testid="chart"]').dataset }));
    await killGateway(killUrl);
    // The hook answers once the gateway process is dead.
    const killedAt = await page.evaluate(() => performance.now());
    await page
      .waitForFunction(() => window.__e2eStates.includes("reconnecting"), null, { timeout: 15_000, polling: 50 })
      .catch(() => {
        throw new Error("the page never showed reconnecting: did the kill hook drop this page's connection?");
      });
    await page.waitForFunction(() => window.__e2eDown !== null, null, { timeout: 5_000, polling: 50 });
    const down = await page.evaluate(() => window.__e2eDown);
    assert.ok(down.at - killedAt <= 1_000, `banner and dimming ${Math.round(down.at - killedAt)} ms after the gateway died`);
    assert.match(down.text, /^Disconnected — (prices as of \d\d:\d\d:\d\d, )?(retrying in \d+ s|reconnecting…)$/);
    await page.screenshot({ path: join(ARTIFACTS, "disconnected.png") });
    await page.waitForFunction(() => document.querySelector('[data-testid="status-badge"]').dataset.state === "connected", null, {
      timeout: 60_000,
    });
    await page.getByTestId("connection-banner").waitFor({ state: "detached", timeout: 5_000 });
    // The fade back takes 0.15 s.
    await page.waitForFunction(() => getComputedStyle(document.querySelector('[data-testid="board"]')).opacity === "1", null, {
      timeout: 2_000,
    });
    await waitForBoardChange(page, await readBoard(page), 5, 30_000);
    if (BAR_MS !== null) {
      // The chart is refilled from the new connection's snapshot and goes on live: newer bars,
      // none of the day's lost.
      await page.waitForFunction(
        (before) => {
          const now = document.querySelector('[data-testid="chart"]').dataset;
          return Number(now.lastStart) > Number(before.lastStart) && Number(now.bars) > Number(before.bars);
        },
        chartBefore,
        { timeout: 3 * BAR_MS + 15_000, polling: 200 },
      );
    }
    await page.screenshot({ path: join(ARTIFACTS, "after-reconnect.png") });
  });

  it("signs out back to the sign-in page, for good", { timeout: STEP_TIMEOUT }, async () => {
    await page.getByTestId("sign-out").click();
    await page.getByTestId("sign-in-page").waitFor();
    await page.reload();
    await page.getByTestId("sign-in-page").waitFor();
    assert.deepEqual(pageErrors.map(String), [], "no uncaught errors in the page");
    assert.deepEqual(cspViolations, [], "no Content-Security-Policy violations");
  });
});
