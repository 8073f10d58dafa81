import { describe, expect, it } from "vitest";
import { makeTick } from "../test/ticks";
import { DEFAULT_QUERY, nextSort, selectBoard, type BoardQuery } from "./boardQuery";
import { mergeTicks } from "./tickMerge";

const watchlist = ["NSE:NIFTY50-INDEX", "NSE:SBIN-EQ", "NSE:TCS-EQ", "NSE:INFY-EQ", "NSE:NEW-EQ"];
const rows = mergeTicks(
  new Map(),
  [
    makeTick("NSE:NIFTY50-INDEX", 1, { ltp: 26000, change: 50, change_pct: 0.19, volume: null }),
    makeTick("NSE:SBIN-EQ", 1, { ltp: 800, change: -4, change_pct: -0.5, volume: 5000 }),
    makeTick("NSE:TCS-EQ", 1, { ltp: 3100, change: 31, change_pct: 1.0, volume: 100 }),
    makeTick("NSE:INFY-EQ", 1, { ltp: 1500, change: 0, change_pct: 0, volume: 900 }),
  ],
  0,
);

const symbols = (query: Partial<BoardQuery>) =>
  selectBoard(watchlist, rows, { ...DEFAULT_QUERY, ...query }).map((e) => e.symbol);

describe("selectBoard", () => {
  it("keeps watchlist order without a sort, including symbols with no tick yet", () => {
    expect(symbols({})).toEqual(watchlist);
  });

  it("quick filters gainers, losers and indices", () => {
    expect(symbols({ quick: "gainers" })).toEqual(["NSE:NIFTY50-INDEX", "NSE:TCS-EQ"]);
    expect(symbols({ quick: "losers" })).toEqual(["NSE:SBIN-EQ"]);
    expect(symbols({ quick: "indices" })).toEqual(["NSE:NIFTY50-INDEX"]);
  });

  it("filters by text on the symbol and the display name, case-insensitively", () => {
    expect(symbols({ text: "sb" })).toEqual(["NSE:SBIN-EQ"]);
    expect(symbols({ text: "nifty 50" })).toEqual(["NSE:NIFTY50-INDEX"]);
    expect(symbols({ text: "  tcs " })).toEqual(["NSE:TCS-EQ"]);
    expect(symbols({ text: "zzz" })).toEqual([]);
  });

  it("sorts numbers both ways with unknown values last", () => {
    expect(symbols({ sort: { key: "ltp", direction: "desc" } })).toEqual([
      "NSE:NIFTY50-INDEX", "NSE:TCS-EQ", "NSE:INFY-EQ", "NSE:SBIN-EQ", "NSE:NEW-EQ",
    ]);
    expect(symbols({ sort: { key: "ltp", direction: "asc" } })).toEqual([
      "NSE:SBIN-EQ", "NSE:INFY-EQ", "NSE:TCS-EQ", "NSE:NIFTY50-INDEX", "NSE:NEW-EQ",
    ]);
    expect(symbols({ sort: { key: "volume", direction: "asc" } })).toEqual([
      "NSE:TCS-EQ", "NSE:INFY-EQ", "NSE:SBIN-EQ", "NSE:NIFTY50-INDEX", "NSE:NEW-EQ",
    ]);
  });

  it("sorts by display name", () => {
    expect(symbols({ sort: { key: "symbol", direction: "asc" } })).toEqual([
      "NSE:INFY-EQ", "NSE:NEW-EQ", "NSE:NIFTY50-INDEX", "NSE:SBIN-EQ", "NSE:TCS-EQ",
    ]);
  });

  it("combines filter and sort", () => {
    expect(symbols({ quick: "gainers", sort: { key: "change_pct", direction: "desc" } })).toEqual([
      "NSE:TCS-EQ", "NSE:NIFTY50-INDEX",
    ]);
  });
});

describe("nextSort", () => {
  it("cycles numbers desc → asc → off and names asc → desc → off", () => {
    const a = nextSort(null, "ltp");
    expect(a).toEqual({ key: "ltp", direction: "desc" });
    const b = nextSort(a, "ltp");
    expect(b).toEqual({ key: "ltp", direction: "asc" });
    expect(nextSort(b, "ltp")).toBeNull();
    expect(nextSort(b, "symbol")).toEqual({ key: "symbol", direction: "asc" });
    expect(nextSort({ key: "symbol", direction: "asc" }, "symbol")).toEqual({ key: "symbol", direction: "desc" });
  });
});
