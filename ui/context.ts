import type { AuthenticatedUser } from '../db/users';
import type { Actor } from '../domain/tokens';

/** What every page handler finds on its context once the session middleware has run (ui/session.ts). */
export type PageUser = AuthenticatedUser & { sessionId: string };
export type UiEnv = { Variables: { user: PageUser; csrfToken: string; nonce: string } };

/** The signed-in user as the author of a change (the audit log's actor, with the issuer chain of their token). */
export const pageActor = (user: PageUser): Actor => ({ name: user.username, tokenIssuers: user.tokenIssuers });
