import { createGlobalStyle } from "styled-components";

/** Page-wide basics and the theme's colours as CSS variables (the LTP flash reads them). */
export const GlobalStyle = createGlobalStyle`
  :root {
    --flash-up: ${({ theme }) => theme.colors.flashUp};
    --flash-down: ${({ theme }) => theme.colors.flashDown};
  }
  *, *::before, *::after { box-sizing: border-box; }
  html, body, #root { margin: 0; min-height: 100%; }
  body {
    background: ${({ theme }) => theme.colors.background};
    color: ${({ theme }) => theme.colors.text};
    font-family: ${({ theme }) => theme.font.body};
    font-size: 14px;
    line-height: 1.4;
    -webkit-text-size-adjust: 100%;
  }
  button, input { font: inherit; color: inherit; }
  :focus-visible {
    outline: 2px solid ${({ theme }) => theme.colors.focus};
    outline-offset: 2px;
  }
  .visually-hidden {
    position: absolute; width: 1px; height: 1px; padding: 0; margin: -1px;
    overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; border: 0;
  }
`;
