/**
 * The symbols the board knows by heart: the NIFTY 50 constituents and the indices.
 * The emulator serves the same universe (tools/fyers-emulator …/universe.py; Tata Motors'
 * passenger-vehicle company trades as TMPV since the 2025 demerger). Anything else is still
 * accepted from the search box and left to the gateway to accept or reject (`invalid_symbol`).
 */

export const NIFTY50_TICKERS: readonly string[] = [
  "ADANIENT", "ADANIPORTS", "APOLLOHOSP", "ASIANPAINT", "AXISBANK",
  "BAJAJ-AUTO", "BAJFINANCE", "BAJAJFINSV", "BEL", "BHARTIARTL",
  "CIPLA", "COALINDIA", "DRREDDY", "EICHERMOT", "ETERNAL",
  "GRASIM", "HCLTECH", "HDFCBANK", "HDFCLIFE", "HINDALCO",
  "HINDUNILVR", "ICICIBANK", "INDIGO", "INFY", "ITC",
  "JIOFIN", "JSWSTEEL", "KOTAKBANK", "LT", "M&M",
  "MARUTI", "MAXHEALTH", "NESTLEIND", "NTPC", "ONGC",
  "POWERGRID", "RELIANCE", "SBILIFE", "SBIN", "SHRIRAMFIN",
  "SUNPHARMA", "TATACONSUM", "TMPV", "TATASTEEL", "TCS",
  "TECHM", "TITAN", "TRENT", "ULTRACEMCO", "WIPRO",
];

export const NIFTY50_INDEX = "NSE:NIFTY50-INDEX";
export const NIFTYBANK_INDEX = "NSE:NIFTYBANK-INDEX";
export const SENSEX_INDEX = "BSE:SENSEX-INDEX";

export const NIFTY50_SYMBOLS: readonly string[] = NIFTY50_TICKERS.map((t) => `NSE:${t}-EQ`);

/** What a new user sees: the two NSE indices, then the constituents. */
export const DEFAULT_WATCHLIST: readonly string[] = [NIFTY50_INDEX, NIFTYBANK_INDEX, ...NIFTY50_SYMBOLS];

/** Index cards, in display order; a card shows only when its symbol is on the watchlist. */
export const INDEX_CARDS: readonly { symbol: string; name: string }[] = [
  { symbol: NIFTY50_INDEX, name: "NIFTY 50" },
  { symbol: NIFTYBANK_INDEX, name: "NIFTY BANK" },
  { symbol: SENSEX_INDEX, name: "SENSEX" },
];

/** Symbols offered by the search box besides the default watchlist (futures roll monthly). */
export const EXTRA_SUGGESTIONS: readonly string[] = [
  SENSEX_INDEX,
  "NSE:NIFTY25DECFUT",
  "NSE:BANKNIFTY25DECFUT",
  "NSE:RELIANCE25DECFUT",
  "NSE:SBIN25DECFUT",
];

export const KNOWN_SYMBOLS: readonly string[] = [...DEFAULT_WATCHLIST, ...EXTRA_SUGGESTIONS];

const INDEX_NAMES = new Map(INDEX_CARDS.map((c) => [c.symbol, c.name]));

export function isIndexSymbol(symbol: string): boolean {
  return symbol.endsWith("-INDEX");
}

/** "NSE:SBIN-EQ" → "SBIN", "NSE:NIFTY50-INDEX" → "NIFTY 50", "NSE:NIFTY25DECFUT" → "NIFTY25DECFUT". */
export function displayName(symbol: string): string {
  const known = INDEX_NAMES.get(symbol);
  if (known !== undefined) return known;
  const bare = symbol.includes(":") ? symbol.slice(symbol.indexOf(":") + 1) : symbol;
  return bare.replace(/-(EQ|INDEX)$/, "");
}

/**
 * Turn what a user typed into a Fyers symbol: "sbin" → "NSE:SBIN-EQ"; anything that already
 * names an exchange is only upper-cased. Empty input gives null.
 */
export function normalizeSymbol(input: string): string | null {
  const text = input.trim().toUpperCase();
  if (text === "") return null;
  if (text.includes(":")) return text;
  if (/-(EQ|INDEX|BE)$/.test(text) || /FUT$/.test(text)) return `NSE:${text}`;
  return `NSE:${text}-EQ`;
}
