import type { ThemeName } from "./themes";

export const THEME_STORAGE_KEY = "livews.theme";

/** The parts of `window` the preference needs, so tests can hand in their own. */
export interface PreferenceEnvironment {
  storage: Pick<Storage, "getItem" | "setItem"> | null;
  prefersDark: () => boolean;
}

export function browserEnvironment(): PreferenceEnvironment {
  let storage: Storage | null = null;
  try {
    storage = window.localStorage;
  } catch {
    storage = null; // storage can be blocked (privacy settings); the theme just isn't remembered
  }
  return {
    storage,
    prefersDark: () => window.matchMedia?.("(prefers-color-scheme: dark)").matches ?? false,
  };
}

/** The theme chosen by the user earlier, or null when they never chose. */
export function storedTheme(env: PreferenceEnvironment): ThemeName | null {
  try {
    const value = env.storage?.getItem(THEME_STORAGE_KEY);
    return value === "light" || value === "dark" ? value : null;
  } catch {
    return null;
  }
}

/** What to show: the remembered choice, else the system's preference. */
export function initialTheme(env: PreferenceEnvironment): ThemeName {
  return storedTheme(env) ?? (env.prefersDark() ? "dark" : "light");
}

export function rememberTheme(env: PreferenceEnvironment, theme: ThemeName): void {
  try {
    env.storage?.setItem(THEME_STORAGE_KEY, theme);
  } catch {
    // quota or privacy mode: the choice lasts for this page only
  }
}
