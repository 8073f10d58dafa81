import { describe, expect, it } from "vitest";
import { suggestSymbols } from "./symbolSuggestions";
import { DEFAULT_WATCHLIST, displayName, NIFTY50_SYMBOLS, normalizeSymbol } from "./universe";

describe("universe", () => {
  it("has the 50 constituents and two indices, no duplicates", () => {
    expect(NIFTY50_SYMBOLS).toHaveLength(50);
    expect(DEFAULT_WATCHLIST).toHaveLength(52);
    expect(new Set(DEFAULT_WATCHLIST).size).toBe(52);
    expect(DEFAULT_WATCHLIST).toContain("NSE:NIFTY50-INDEX");
    expect(DEFAULT_WATCHLIST).toContain("NSE:NIFTYBANK-INDEX");
    expect(DEFAULT_WATCHLIST).toContain("NSE:M&M-EQ");
  });

  it("names symbols for display", () => {
    expect(displayName("NSE:SBIN-EQ")).toBe("SBIN");
    expect(displayName("NSE:BAJAJ-AUTO-EQ")).toBe("BAJAJ-AUTO");
    expect(displayName("NSE:NIFTYBANK-INDEX")).toBe("NIFTY BANK");
    expect(displayName("NSE:NIFTY25DECFUT")).toBe("NIFTY25DECFUT");
  });

  it("normalizes typed symbols", () => {
    expect(normalizeSymbol(" sbin ")).toBe("NSE:SBIN-EQ");
    expect(normalizeSymbol("bse:sensex-index")).toBe("BSE:SENSEX-INDEX");
    expect(normalizeSymbol("NIFTY25DECFUT")).toBe("NSE:NIFTY25DECFUT");
    expect(normalizeSymbol("   ")).toBeNull();
  });
});

describe("suggestSymbols", () => {
  it("offers matching known symbols, names starting with the text first", () => {
    const list = suggestSymbols("sbi", ["NSE:SBIN-EQ"]).map((s) => s.symbol);
    expect(list.slice(0, 2).sort()).toEqual(["NSE:SBILIFE-EQ", "NSE:SBIN-EQ"]);
    expect(list.at(-1)).toBe("NSE:SBI-EQ"); // what was typed, as a symbol, still offered
    expect(suggestSymbols("sensex", [])[0]!.symbol).toBe("BSE:SENSEX-INDEX");
  });

  it("leads with the typed symbol when nothing known starts with it", () => {
    expect(suggestSymbols("nope", [])[0]!.symbol).toBe("NSE:NOPE-EQ");
    expect(suggestSymbols("NSE:NIFTY25DECFUT", [])[0]!.symbol).toBe("NSE:NIFTY25DECFUT");
  });

  it("marks what is already on the watchlist", () => {
    const [first] = suggestSymbols("NSE:SBIN-EQ", ["NSE:SBIN-EQ"]);
    expect(first).toEqual({ symbol: "NSE:SBIN-EQ", name: "SBIN", onWatchlist: true });
  });

  it("offers SENSEX, which is not on the default watchlist", () => {
    expect(suggestSymbols("sensex", []).map((s) => s.symbol)).toContain("BSE:SENSEX-INDEX");
  });

  it("offers nothing for empty text", () => {
    expect(suggestSymbols("  ", [])).toEqual([]);
  });
});
