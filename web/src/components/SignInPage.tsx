import styled from "styled-components";
import { SIGN_IN_URL } from "../session/authApi";
import { ThemeToggle } from "./ThemeToggle";

const Page = styled.main`
  min-height: 100vh;
  display: grid;
  place-items: center;
  padding: 24px;
`;

const Card = styled.section`
  max-width: 420px;
  width: 100%;
  padding: 32px 24px;
  border-radius: 12px;
  background: ${({ theme }) => theme.colors.surface};
  border: 1px solid ${({ theme }) => theme.colors.border};
  text-align: center;
  h1 { margin: 0 0 8px; font-size: 22px; }
  p { margin: 0 0 24px; color: ${({ theme }) => theme.colors.textMuted}; }
`;

const SignInLink = styled.a`
  display: inline-block;
  padding: 10px 20px;
  border-radius: 8px;
  background: ${({ theme }) => theme.colors.accent};
  color: ${({ theme }) => theme.colors.accentText};
  font-weight: 600;
  text-decoration: none;
`;

const Corner = styled.div`
  position: fixed;
  top: 12px;
  right: 12px;
`;

/** What a signed-out visitor sees: one clear way in. */
export function SignInPage({ message }: { message?: string }) {
  return (
    <Page data-testid="sign-in-page">
      <Corner>
        <ThemeToggle />
      </Corner>
      <Card>
        <h1>LiveWebsocket</h1>
        <p>{message ?? "Live NSE and BSE prices. Sign in with your Fyers account to see the board."}</p>
        <SignInLink href={SIGN_IN_URL} data-testid="sign-in-button">
          Sign in with Fyers
        </SignInLink>
      </Card>
    </Page>
  );
}

/** The auth service cannot be reached: say so, and keep retrying in the background. */
export function AuthUnavailablePage({ message, onRetry }: { message: string; onRetry: () => void }) {
  return (
    <Page data-testid="auth-unavailable">
      <Card>
        <h1>Can’t reach the sign-in service</h1>
        <p>
          Retrying automatically. <small>({message})</small>
        </p>
        <SignInLink as="button" onClick={onRetry}>
          Retry now
        </SignInLink>
      </Card>
    </Page>
  );
}
