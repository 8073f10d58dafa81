/** The two palettes. Text colours are chosen for WCAG AA (4.5:1) on their backgrounds; a test checks. */

export type ThemeName = "light" | "dark";

export interface Theme {
  name: ThemeName;
  colors: {
    background: string;
    surface: string;
    surfaceAlt: string;
    border: string;
    text: string;
    textMuted: string;
    accent: string;
    accentText: string;
    up: string;
    down: string;
    flashUp: string;
    flashDown: string;
    selected: string;
    focus: string;
    warning: string;
    danger: string;
    ok: string;
    /** Background of a row whose symbol has gone quiet. */
    staleTint: string;
  };
  font: {
    body: string;
    mono: string;
  };
}

const font = {
  body: "system-ui, -apple-system, 'Segoe UI', Roboto, 'Noto Sans', sans-serif",
  mono: "ui-monospace, 'SFMono-Regular', 'DejaVu Sans Mono', Menlo, Consolas, monospace",
};

export const lightTheme: Theme = {
  name: "light",
  colors: {
    background: "#f5f6f8",
    surface: "#ffffff",
    surfaceAlt: "#f0f2f5",
    border: "#d5d9e0",
    text: "#1a1d23",
    textMuted: "#555d6b",
    accent: "#1f5fd1",
    accentText: "#ffffff",
    up: "#0b7a33",
    down: "#c2261f",
    flashUp: "rgba(11, 122, 51, 0.18)",
    flashDown: "rgba(194, 38, 31, 0.18)",
    selected: "#e3ecfb",
    focus: "#1f5fd1",
    warning: "#8a5a00",
    danger: "#b3261e",
    ok: "#0b7a33",
    staleTint: "rgba(138, 90, 0, 0.07)",
  },
  font,
};

export const darkTheme: Theme = {
  name: "dark",
  colors: {
    background: "#0e1116",
    surface: "#161b22",
    surfaceAlt: "#1c222b",
    border: "#2f3742",
    text: "#e6e9ee",
    textMuted: "#a2abb8",
    accent: "#6ea8ff",
    accentText: "#0e1116",
    up: "#4cd37d",
    down: "#ff7b72",
    flashUp: "rgba(76, 211, 125, 0.22)",
    flashDown: "rgba(255, 123, 114, 0.22)",
    selected: "#1f2d44",
    focus: "#6ea8ff",
    warning: "#f0b849",
    danger: "#ff7b72",
    ok: "#4cd37d",
    staleTint: "rgba(240, 184, 73, 0.07)",
  },
  font,
};

export const themes: Record<ThemeName, Theme> = { light: lightTheme, dark: darkTheme };
