import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { CompactDecoder, CompactError, FIELDS } from "./compact";

// The vectors shared with the Python decoder's tests (libs/common/tests/test_compact.py).
const vectors = JSON.parse(
  readFileSync(fileURLToPath(new URL("../../../docs/compact-vectors.json", import.meta.url)), "utf8"),
) as {
  cases: { name: string; rows: unknown[]; ticks: Record<string, unknown>[] }[];
  errors: { name: string; rows: unknown[] }[];
};

describe("CompactDecoder against the shared vectors", () => {
  it("has vectors to check", () => {
    expect(vectors.cases.length).toBeGreaterThan(3);
    expect(vectors.errors.length).toBeGreaterThan(3);
  });

  for (const c of vectors.cases) {
    it(`decodes: ${c.name}`, () => {
      const decoder = new CompactDecoder();
      const ticks = decoder.decodeAll(c.rows);
      expect(ticks).toEqual(c.ticks);
      for (const tick of ticks) expect(Object.keys(tick).sort()).toEqual(["v", "symbol", "seq", ...FIELDS].sort());
    });
  }

  for (const c of vectors.errors) {
    it(`refuses: ${c.name}`, () => {
      const decoder = new CompactDecoder();
      expect(() => decoder.decodeAll(c.rows)).toThrow(CompactError);
    });
  }

  it("forgets what it held on reset (a new connection starts from key rows)", () => {
    const decoder = new CompactDecoder();
    const [first] = vectors.cases;
    decoder.decode(first!.rows[0]);
    decoder.reset();
    expect(() => decoder.decode(first!.rows[1])).toThrow(CompactError);
  });
});
