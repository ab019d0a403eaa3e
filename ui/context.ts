import type { AuthenticatedUser } from '../db/users';

/** What every page handler finds on its context once the session middleware has run (ui/session.ts). */
export type PageUser = AuthenticatedUser & { sessionId: string };
export type UiEnv = { Variables: { user: PageUser; csrfToken: string; nonce: string } };
