import { useThemeChoice } from "../theme/ThemeContext";
import { Button } from "./controls";

export function ThemeToggle() {
  const { theme, toggle } = useThemeChoice();
  const next = theme === "dark" ? "light" : "dark";
  return (
    <Button type="button" onClick={toggle} data-testid="theme-toggle" data-theme={theme} aria-label={`Switch to ${next} theme`}>
      <span aria-hidden="true">{theme === "dark" ? "☀" : "☾"}</span>
      <span className="label">{next === "dark" ? "Dark" : "Light"}</span>
    </Button>
  );
}
