import { describe, expect, it } from "vitest";
import { DEFAULT_WATCHLIST } from "../market/universe";
import { loadWatchlist, saveWatchlist, watchlistKey, withoutSymbols, withSymbol } from "./watchlistStorage";

function memoryStorage() {
  const data = new Map<string, string>();
  return { data, getItem: (k: string) => data.get(k) ?? null, setItem: (k: string, v: string) => void data.set(k, v) };
}

describe("watchlist storage", () => {
  it("starts from the default watchlist", () => {
    expect(loadWatchlist(memoryStorage(), "XY12345")).toEqual(DEFAULT_WATCHLIST);
    expect(loadWatchlist(null, "XY12345")).toEqual(DEFAULT_WATCHLIST);
  });

  it("keeps one list per user", () => {
    const storage = memoryStorage();
    saveWatchlist(storage, "AA00001", ["NSE:SBIN-EQ", "BSE:SENSEX-INDEX"]);
    expect(storage.data.has(watchlistKey("AA00001"))).toBe(true);
    expect(loadWatchlist(storage, "AA00001")).toEqual(["NSE:SBIN-EQ", "BSE:SENSEX-INDEX"]);
    expect(loadWatchlist(storage, "BB00002")).toEqual(DEFAULT_WATCHLIST);
  });

  it("falls back to the default on corrupt data and drops duplicates", () => {
    const storage = memoryStorage();
    storage.setItem(watchlistKey("u"), "{not json");
    expect(loadWatchlist(storage, "u")).toEqual(DEFAULT_WATCHLIST);
    storage.setItem(watchlistKey("u"), JSON.stringify([1, 2]));
    expect(loadWatchlist(storage, "u")).toEqual(DEFAULT_WATCHLIST);
    storage.setItem(watchlistKey("u"), JSON.stringify(["A", "A", "B"]));
    expect(loadWatchlist(storage, "u")).toEqual(["A", "B"]);
  });

  it("adds once and removes", () => {
    expect(withSymbol(["A"], "B")).toEqual(["A", "B"]);
    expect(withSymbol(["A"], "A")).toEqual(["A"]);
    expect(withoutSymbols(["A", "B", "C"], ["A", "C"])).toEqual(["B"]);
  });
});
