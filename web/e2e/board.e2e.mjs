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
    context = await browser.newContext({ viewport: { width: 1366, height: 900 }, colorScheme: "dark" });
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
    assert.ok((await page.getByTestId("index-card").count()) >= 2, "index cards for NIFTY 50 and NIFTY BANK");
    assert.equal(await page.getByTestId("status-badge").getAttribute("data-state"), "connected");
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
    const notice = page.getByTestId("notice").filter({ hasText: "invalid_symbol" });
    await notice.first().waitFor();
    assert.equal(await page.locator(row("NSE:NOSUCHTHING-EQ")).count(), 0);

    // The watchlist survives a reload (and the reload renews the session from the cookie).
    await page.reload();
    await page.locator(row("BSE:SENSEX-INDEX")).waitFor();
    await page.locator(row("BSE:SENSEX-INDEX")).getByTestId("remove-symbol").click();
    await page.locator(row("BSE:SENSEX-INDEX")).waitFor({ state: "detached" });
  });

  it("shows five levels of depth for the selected row, by mouse and by keyboard", { timeout: STEP_TIMEOUT }, async () => {
    await page.locator(row("NSE:SBIN-EQ")).click();
    const panel = page.getByTestId("depth-panel");
    await page.locator('[data-testid="depth-panel"][data-symbol="NSE:SBIN-EQ"]').waitFor();
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="depth-panel"] [data-testid="depth-bid"]').length === 5, null, { timeout: 20_000 });
    assert.equal(await panel.getByTestId("depth-ask").count(), 5);

    await page.locator(row("NSE:TCS-EQ")).focus();
    await page.keyboard.press("Enter");
    await page.locator('[data-testid="depth-panel"][data-symbol="NSE:TCS-EQ"]').waitFor();
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="depth-panel"] [data-testid="depth-bid"]').length === 5, null, { timeout: 20_000 });
  });

  it("switches themes, remembers the choice, and lays out on a 375 px phone", { timeout: STEP_TIMEOUT }, async () => {
    const theme = () => page.evaluate(() => document.documentElement.dataset.theme);
    assert.equal(await theme(), "dark");
    await page.screenshot({ path: join(ARTIFACTS, "board-dark.png") });
    await page.getByTestId("theme-toggle").click();
    assert.equal(await theme(), "light");
    const background = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
    assert.notEqual(background, "rgb(14, 17, 22)", "light background after the switch");
    await page.screenshot({ path: join(ARTIFACTS, "board-light.png") });
    await page.reload();
    await page.getByTestId("board").waitFor();
    assert.equal(await theme(), "light", "the choice outlives a reload");

    await page.setViewportSize({ width: 375, height: 812 });
    await page.waitForFunction((n) => document.querySelectorAll('[data-testid="board-row"]').length >= n, DEFAULT_ROWS);
    const phone = await page.evaluate(() => {
      const box = (testId) => document.querySelector(`[data-testid="${testId}"]`).getBoundingClientRect();
      const bid = document.querySelector('[data-testid="board-row"] [data-col="bid"]');
      return {
        overflow: document.documentElement.scrollWidth - window.innerWidth,
        wideColumnsShown: getComputedStyle(bid).display !== "none",
        depthBelowBoard: box("depth-panel").top >= box("board").bottom - 1,
        boardWidth: box("board").width,
      };
    });
    assert.ok(phone.overflow <= 1, `no sideways scrolling on a phone (overflow ${phone.overflow}px)`);
    assert.ok(!phone.wideColumnsShown, "the phone board shows only symbol, LTP and changes");
    assert.ok(phone.depthBelowBoard && phone.boardWidth > 300, `phone layout stacks the board full width: ${JSON.stringify(phone)}`);
    await page.screenshot({ path: join(ARTIFACTS, "board-phone.png") });
    await page.setViewportSize({ width: 1366, height: 900 });
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
    await killGateway(killUrl);
    await page
      .waitForFunction(() => window.__e2eStates.includes("reconnecting"), null, { timeout: 15_000, polling: 50 })
      .catch(() => {
        throw new Error("the page never showed reconnecting: did the kill hook drop this page's connection?");
      });
    await page.waitForFunction(() => document.querySelector('[data-testid="status-badge"]').dataset.state === "connected", null, {
      timeout: 60_000,
    });
    await waitForBoardChange(page, await readBoard(page), 5, 30_000);
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
