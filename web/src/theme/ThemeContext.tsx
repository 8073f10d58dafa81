import { createContext, useCallback, useContext, useEffect, useMemo, useState, type ReactNode } from "react";
import { StyleSheetManager, ThemeProvider } from "styled-components";
import { browserEnvironment, initialTheme, rememberTheme, storedTheme } from "./themePreference";
import { themes, type ThemeName } from "./themes";

interface ThemeChoice {
  theme: ThemeName;
  toggle(): void;
}

const ThemeChoiceContext = createContext<ThemeChoice | null>(null);

/** Light or dark: the system's preference until the user picks one, which is remembered. */
export function ThemeChoiceProvider({ children }: { children: ReactNode }) {
  const env = useMemo(browserEnvironment, []);
  const [theme, setTheme] = useState<ThemeName>(() => initialTheme(env));

  // Follow the system while the user has not chosen.
  useEffect(() => {
    const query = window.matchMedia?.("(prefers-color-scheme: dark)");
    if (!query) return;
    const follow = (event: MediaQueryListEvent) => {
      if (storedTheme(env) === null) setTheme(event.matches ? "dark" : "light");
    };
    query.addEventListener("change", follow);
    return () => query.removeEventListener("change", follow);
  }, [env]);

  useEffect(() => {
    document.documentElement.dataset.theme = theme;
    document.documentElement.style.colorScheme = theme;
  }, [theme]);

  const toggle = useCallback(() => {
    const next: ThemeName = theme === "dark" ? "light" : "dark";
    rememberTheme(env, next);
    setTheme(next);
  }, [env, theme]);

  const choice = useMemo(() => ({ theme, toggle }), [theme, toggle]);
  return (
    <ThemeChoiceContext.Provider value={choice}>
      {/* Text injection, not CSSOM insertRule: Chromium was seen not re-applying insertRule'd
          @media rules after a viewport resize (the 375 px e2e step caught it). */}
      <StyleSheetManager disableCSSOMInjection>
        <ThemeProvider theme={themes[theme]}>{children}</ThemeProvider>
      </StyleSheetManager>
    </ThemeChoiceContext.Provider>
  );
}

export function useThemeChoice(): ThemeChoice {
  const choice = useContext(ThemeChoiceContext);
  if (choice === null) throw new Error("useThemeChoice outside ThemeChoiceProvider");
  return choice;
}
