import { and, desc, eq, gt, isNull, or, sql } from 'drizzle-orm';
import { record } from './audit-log';
import type { Db } from './client';
import { apiTokens, uiSessions, users } from './schema';
import type { AuthenticatedUser } from './users';
import { SESSION_ABSOLUTE_MS, SESSION_IDLE_MS, SESSION_TOUCH_MS, hashSessionSecret, newSessionSecret, sessionAlive } from '../domain/sessions';

export interface SessionView { id: string; username: string; createdAt: Date; lastSeenAt: Date; expiresAt: Date; revokedAt: Date | null; revokedBy: string | null }

const idleCutoff = () => new Date(Date.now() - SESSION_IDLE_MS);
/** A session that still opens pages: not revoked, not idle or past its end, and its token neither revoked nor expired. */
const liveSession = () => [
  isNull(uiSessions.revokedAt), gt(uiSessions.expiresAt, sql`now()`), gt(uiSessions.lastSeenAt, idleCutoff()),
  isNull(apiTokens.revokedAt), or(isNull(apiTokens.expiresAt), gt(apiTokens.expiresAt, sql`now()`)),
];

/**
 * Sessions of the operator pages. A session stands for the token it was opened with: resolving one re-checks that
 * token (not revoked, not expired) and the user's current permissions, so revoking the token or deleting the user
 * ends it at once, and permission changes apply on the next request.
 */
export class SessionStore {
  constructor(private readonly db: Db) {}

  /** Opens a session for a user authenticated by a token; returns the secret for the cookie (never stored). */
  async open(user: AuthenticatedUser): Promise<{ id: string; secret: string; expiresAt: Date }> {
    const { secret, hash } = newSessionSecret();
    const expiresAt = new Date(Date.now() + SESSION_ABSOLUTE_MS);
    const [row] = await this.db.insert(uiSessions).values({ secretHash: hash, userId: user.id, tokenId: user.tokenId, expiresAt })
      .returning({ id: uiSessions.id });
    return { id: row!.id, secret, expiresAt };
  }

  /** The user of a live session (touching its last-seen time), or undefined. */
  async resolve(secret: string): Promise<(AuthenticatedUser & { sessionId: string }) | undefined> {
    const [row] = await this.db.select({
      sessionId: uiSessions.id, lastSeenAt: uiSessions.lastSeenAt, expiresAt: uiSessions.expiresAt, revokedAt: uiSessions.revokedAt,
      id: users.id, username: users.username, permissions: users.permissions, tokenId: apiTokens.id, tokenIssuers: apiTokens.issuerChain,
    }).from(uiSessions)
      .innerJoin(users, eq(users.id, uiSessions.userId))
      .innerJoin(apiTokens, and(eq(apiTokens.id, uiSessions.tokenId), eq(apiTokens.userId, users.id)))
      .where(and(
        eq(uiSessions.secretHash, hashSessionSecret(secret)),
        isNull(apiTokens.revokedAt), or(isNull(apiTokens.expiresAt), gt(apiTokens.expiresAt, sql`now()`)),
      ));
    if (!row || !sessionAlive(row, new Date())) return undefined;
    if (Date.now() - row.lastSeenAt.getTime() > SESSION_TOUCH_MS) {
      await this.db.update(uiSessions).set({ lastSeenAt: new Date() }).where(eq(uiSessions.id, row.sessionId));
    }
    const { lastSeenAt: _seen, expiresAt: _expires, revokedAt: _revoked, ...user } = row;
    return user;
  }

  /** Sign-out: ends the session holding this secret. */
  async revokeBySecret(secret: string, by: string): Promise<boolean> {
    const rows = await this.db.update(uiSessions).set({ revokedAt: new Date(), revokedBy: by })
      .where(and(eq(uiSessions.secretHash, hashSessionSecret(secret)), isNull(uiSessions.revokedAt))).returning({ id: uiSessions.id });
    return rows.length > 0;
  }

  /** An administrator ends one session (by its id), or every session of a user. */
  async revoke(id: string, by: string): Promise<boolean> {
    const rows = await this.db.update(uiSessions).set({ revokedAt: new Date(), revokedBy: by })
      .where(and(eq(uiSessions.id, id), isNull(uiSessions.revokedAt))).returning({ id: uiSessions.id });
    return rows.length > 0;
  }

  /** Ends every session of a user; an administrator's revocation that ended any is an audit-log row (`session.revoke`). */
  async revokeAllOf(username: string, by: string): Promise<number> {
    return this.db.transaction(async (tx) => {
      // Only live sessions count (one whose token is revoked has ended already); the rest end with them all the same.
      const live = await tx.select({ id: uiSessions.id }).from(uiSessions).innerJoin(users, eq(users.id, uiSessions.userId))
        .innerJoin(apiTokens, eq(apiTokens.id, uiSessions.tokenId)).where(and(...liveSession(), eq(users.username, username)));
      await tx.update(uiSessions).set({ revokedAt: new Date(), revokedBy: by })
        .where(and(isNull(uiSessions.revokedAt), sql`${uiSessions.userId} = (select ${users.id} from ${users} where ${users.username} = ${username})`));
      if (live.length > 0) await record(tx, { actor: by, action: 'session.revoke', target: `user:${username}`, changes: { sessionsEnded: live.length } });
      return live.length;
    });
  }

  /** Live sessions, newest first (for the administrators' page). */
  async listActive(username?: string): Promise<SessionView[]> {
    return this.db.select({
      id: uiSessions.id, username: users.username, createdAt: uiSessions.createdAt, lastSeenAt: uiSessions.lastSeenAt,
      expiresAt: uiSessions.expiresAt, revokedAt: uiSessions.revokedAt, revokedBy: uiSessions.revokedBy,
    }).from(uiSessions).innerJoin(users, eq(users.id, uiSessions.userId)).innerJoin(apiTokens, eq(apiTokens.id, uiSessions.tokenId))
      .where(and(...liveSession(), ...(username ? [eq(users.username, username)] : [])))
      .orderBy(desc(uiSessions.createdAt));
  }

  /** Deletes sessions that ended more than a day ago. */
  async prune(): Promise<number> {
    const rows = await this.db.delete(uiSessions)
      .where(sql`coalesce(${uiSessions.revokedAt}, least(${uiSessions.expiresAt}, ${uiSessions.lastSeenAt} + make_interval(secs => ${SESSION_IDLE_MS / 1000}))) < now() - interval '1 day'`)
      .returning({ id: uiSessions.id });
    return rows.length;
  }
}
