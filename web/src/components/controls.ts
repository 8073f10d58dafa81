import styled from "styled-components";

/** The app's one button look; `$variant="primary"` for the main action of a view. */
export const Button = styled.button<{ $variant?: "primary" | "plain" }>`
  display: inline-flex;
  align-items: center;
  gap: 6px;
  min-height: 32px;
  padding: 4px 12px;
  border-radius: 6px;
  border: 1px solid ${({ theme, $variant }) => ($variant === "primary" ? theme.colors.accent : theme.colors.border)};
  background: ${({ theme, $variant }) => ($variant === "primary" ? theme.colors.accent : theme.colors.surface)};
  color: ${({ theme, $variant }) => ($variant === "primary" ? theme.colors.accentText : theme.colors.text)};
  cursor: pointer;
  white-space: nowrap;
  &:hover { filter: brightness(1.05); }
  @media (max-width: 700px) {
    padding: 4px 8px;
    .label { display: none; }
  }
  &[aria-pressed="true"] {
    background: ${({ theme }) => theme.colors.selected};
    border-color: ${({ theme }) => theme.colors.accent};
  }
`;

export const TextInput = styled.input`
  min-height: 32px;
  padding: 4px 10px;
  border-radius: 6px;
  border: 1px solid ${({ theme }) => theme.colors.border};
  background: ${({ theme }) => theme.colors.surface};
  color: ${({ theme }) => theme.colors.text};
  width: 100%;
  &::placeholder { color: ${({ theme }) => theme.colors.textMuted}; }
`;
