import { describe, expect, it } from "vitest";
import { initialTheme, rememberTheme, storedTheme, THEME_STORAGE_KEY, type PreferenceEnvironment } from "./themePreference";

function memoryEnv(prefersDark: boolean, initial: Record<string, string> = {}): PreferenceEnvironment & { data: Map<string, string> } {
  const data = new Map(Object.entries(initial));
  return {
    data,
    storage: { getItem: (k) => data.get(k) ?? null, setItem: (k, v) => void data.set(k, v) },
    prefersDark: () => prefersDark,
  };
}

describe("theme preference", () => {
  it("follows the system until the user chooses", () => {
    expect(initialTheme(memoryEnv(true))).toBe("dark");
    expect(initialTheme(memoryEnv(false))).toBe("light");
  });

  it("remembers the choice, which then wins over the system", () => {
    const env = memoryEnv(true);
    rememberTheme(env, "light");
    expect(env.data.get(THEME_STORAGE_KEY)).toBe("light");
    expect(initialTheme(env)).toBe("light");
    expect(storedTheme(env)).toBe("light");
  });

  it("ignores garbage in storage", () => {
    expect(initialTheme(memoryEnv(false, { [THEME_STORAGE_KEY]: "purple" }))).toBe("light");
  });

  it("survives storage that throws (privacy mode)", () => {
    const env: PreferenceEnvironment = {
      storage: {
        getItem: () => {
          throw new Error("denied");
        },
        setItem: () => {
          throw new Error("denied");
        },
      },
      prefersDark: () => true,
    };
    expect(initialTheme(env)).toBe("dark");
    expect(() => rememberTheme(env, "light")).not.toThrow();
  });

  it("works without storage at all", () => {
    expect(initialTheme({ storage: null, prefersDark: () => false })).toBe("light");
  });
});
