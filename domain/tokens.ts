import { createHash, randomBytes } from 'node:crypto';

const TOKEN_PREFIX = 'pbi_';
const DAY_MS = 86_400_000;

/**
 * A new API token: the secret is shown once; only its SHA-256 is stored. Nothing of the random part is stored in
 * plaintext (the fixed `pbi_` marker only says what kind of secret it is, for secret scanners).
 */
export function newApiToken(): { token: string; hash: string } {
  const token = TOKEN_PREFIX + randomBytes(32).toString('base64url');
  return { token, hash: hashApiToken(token) };
}

export function hashApiToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/**
 * Who makes an administrative change or a decision: a user authenticated by a token (with that token's issuer chain),
 * or a tool: `cli:<os user>` for the command-line tool, `system:<what>` for the service itself (bootstrap, env seed).
 */
export interface Actor { name: string; tokenIssuers: readonly string[] }

export const systemActor = (what: string): Actor => ({ name: `system:${what}`, tokenIssuers: [] });

/**
 * The issuer chain of a token issued by `issuer`: the issuer, then everyone who could have used the issuer's own token.
 * Whoever is in it could have acted with the new token, so an approval made with it counts as theirs too.
 */
export function issuerChainFor(issuer: Actor): string[] {
  return [...new Set([issuer.name, ...issuer.tokenIssuers])];
}

/** When a new token expires: the requested time, `null` for never, or (not given) the settings' default lifetime. */
export function tokenExpiry(now: Date, requested: Date | null | undefined, defaultLifetimeDays: number | null): Date | null {
  if (requested !== undefined) return requested;
  return defaultLifetimeDays === null ? null : new Date(now.getTime() + defaultLifetimeDays * DAY_MS);
}
