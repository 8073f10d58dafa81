import { describe, expect, it } from "vitest";
import { themes } from "./themes";

/** WCAG 2 relative luminance of a #rrggbb colour. */
function luminance(hex: string): number {
  const [r, g, b] = [1, 3, 5].map((i) => {
    const c = parseInt(hex.slice(i, i + 2), 16) / 255;
    return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  }) as [number, number, number];
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
}

function contrast(a: string, b: string): number {
  const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x) as [number, number];
  return (hi + 0.05) / (lo + 0.05);
}

describe.each(Object.values(themes))("$name theme contrast", (theme) => {
  const c = theme.colors;
  const texts = { text: c.text, textMuted: c.textMuted, up: c.up, down: c.down, warning: c.warning, danger: c.danger, accent: c.accent };
  for (const background of ["background", "surface", "surfaceAlt", "selected"] as const) {
    it.each(Object.entries(texts))(`%s on ${background} reaches 4.5:1`, (_name, colour) => {
      expect(contrast(colour, c[background])).toBeGreaterThanOrEqual(4.5);
    });
  }
  it("accent button text reaches 4.5:1", () => {
    expect(contrast(c.accentText, c.accent)).toBeGreaterThanOrEqual(4.5);
  });
});
