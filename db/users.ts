import { and, eq, gt, isNull, or, sql } from 'drizzle-orm';
import type { Db } from './client';
import { record } from './audit-log';
import { apiTokens, settings, users } from './schema';
import { diffForAudit } from '../domain/audit';
import { ALL_PERMISSIONS, normalizePermissions } from '../domain/permissions';
import { hashApiToken, issuerChainFor, newApiToken, systemActor, tokenExpiry, type Actor } from '../domain/tokens';

export interface UserView { username: string; permissions: string[]; createdAt: Date }
export interface AuthenticatedUser {
  id: number;
  username: string;
  permissions: string[];
  /** The token this request was authenticated with, and everyone who could have used it besides the user. */
  tokenId: string;
  tokenIssuers: string[];
}
export interface TokenView {
  id: string; description: string; issuedBy: string; issuerChain: string[];
  createdAt: Date; expiresAt: Date | null; lastUsedAt: Date | null; revokedAt: Date | null;
}
export interface NewTokenOptions {
  description?: string;
  /** A time, `null` for a token that never expires, or not given: the settings' `tokenLifetimeDays`. */
  expiresAt?: Date | null;
}

/** Changes made by code rather than by a person (tests, seeds) are recorded under this actor. */
const SYSTEM = systemActor('internal');
const userColumns = { username: users.username, permissions: users.permissions, createdAt: users.createdAt };
const tokenColumns = {
  id: apiTokens.id, description: apiTokens.description, issuedBy: apiTokens.issuedBy, issuerChain: apiTokens.issuerChain,
  createdAt: apiTokens.createdAt, expiresAt: apiTokens.expiresAt, lastUsedAt: apiTokens.lastUsedAt, revokedAt: apiTokens.revokedAt,
};

/** Users, permissions and tokens; every change writes its audit row in the same transaction. */
export class UserStore {
  constructor(private readonly db: Db) {}

  async list(): Promise<UserView[]> {
    return this.db.select(userColumns).from(users).orderBy(users.username);
  }

  async get(username: string): Promise<UserView | undefined> {
    const [row] = await this.db.select(userColumns).from(users).where(eq(users.username, username));
    return row;
  }

  async permissionsOf(username: string): Promise<string[]> {
    return (await this.get(username))?.permissions ?? [];
  }

  /** Creates the user, or returns undefined when the name is taken. */
  async create(username: string, permissions: readonly string[], by: Actor = SYSTEM): Promise<UserView | undefined> {
    return this.db.transaction(async (tx) => {
      const [row] = await tx.insert(users).values({ username, permissions: normalizePermissions(permissions) })
        .onConflictDoNothing().returning(userColumns);
      if (row) await record(tx, { actor: by.name, action: 'user.create', target: `user:${username}`, changes: diffForAudit(null, { permissions: row.permissions }) });
      return row;
    });
  }

  async setPermissions(username: string, permissions: readonly string[], by: Actor = SYSTEM): Promise<UserView | undefined> {
    return this.changePermissions(username, () => normalizePermissions(permissions), by);
  }

  async grant(username: string, permissions: readonly string[], by: Actor = SYSTEM): Promise<UserView | undefined> {
    return this.changePermissions(username, (current) => normalizePermissions([...current, ...permissions]), by);
  }

  private async changePermissions(username: string, next: (current: string[]) => string[], by: Actor): Promise<UserView | undefined> {
    return this.db.transaction(async (tx) => {
      const [current] = await tx.select(userColumns).from(users).where(eq(users.username, username)).for('update');
      if (!current) return undefined;
      const [row] = await tx.update(users).set({ permissions: next(current.permissions) }).where(eq(users.username, username)).returning(userColumns);
      const changes = diffForAudit({ permissions: current.permissions }, { permissions: row!.permissions });
      if (Object.keys(changes).length > 0) await record(tx, { actor: by.name, action: 'user.update', target: `user:${username}`, changes });
      return row;
    });
  }

  async delete(username: string, by: Actor = SYSTEM): Promise<boolean> {
    return this.db.transaction(async (tx) => {
      const rows = await tx.delete(users).where(eq(users.username, username)).returning({ permissions: users.permissions });
      if (rows[0]) await record(tx, { actor: by.name, action: 'user.delete', target: `user:${username}`, changes: diffForAudit({ permissions: rows[0].permissions }, null) });
      return rows.length > 0;
    });
  }

  /** Issues a token for the user; the plaintext is returned here and never again. */
  async createToken(username: string, opts: NewTokenOptions = {}, by: Actor = SYSTEM): Promise<(TokenView & { token: string }) | undefined> {
    return this.db.transaction(async (tx) => {
      const [user] = await tx.select({ id: users.id }).from(users).where(eq(users.username, username));
      if (!user) return undefined;
      const [config] = await tx.select({ days: settings.tokenLifetimeDays }).from(settings).where(eq(settings.id, 1));
      const { token, hash } = newApiToken();
      const [row] = await tx.insert(apiTokens).values({
        userId: user.id, tokenHash: hash, description: opts.description ?? '', issuedBy: by.name, issuerChain: issuerChainFor(by),
        expiresAt: tokenExpiry(new Date(), opts.expiresAt, config?.days ?? null),
      }).returning(tokenColumns);
      await record(tx, {
        actor: by.name, action: 'token.create', target: `user:${username}`,
        changes: diffForAudit(null, { tokenId: row!.id, description: row!.description, issuerChain: row!.issuerChain, expiresAt: row!.expiresAt }),
      });
      return { ...row!, token };
    });
  }

  /** Newest first; undefined when the user does not exist. Never the token itself (only its hash is stored). */
  async listTokens(username: string): Promise<TokenView[] | undefined> {
    const [user] = await this.db.select({ id: users.id }).from(users).where(eq(users.username, username));
    if (!user) return undefined;
    return this.db.select(tokenColumns).from(apiTokens).where(eq(apiTokens.userId, user.id)).orderBy(sql`${apiTokens.createdAt} desc`);
  }

  async revokeToken(username: string, tokenId: string, by: Actor = SYSTEM): Promise<boolean> {
    return this.db.transaction(async (tx) => {
      const [user] = await tx.select({ id: users.id }).from(users).where(eq(users.username, username));
      if (!user) return false;
      const rows = await tx.update(apiTokens).set({ revokedAt: new Date() })
        .where(and(eq(apiTokens.id, tokenId), eq(apiTokens.userId, user.id), isNull(apiTokens.revokedAt)))
        .returning({ id: apiTokens.id });
      if (rows[0]) await record(tx, { actor: by.name, action: 'token.revoke', target: `user:${username}`, changes: { tokenId } });
      return rows.length > 0;
    });
  }

  /** The user behind an active (not revoked, not expired) token, with the token's id and issuer chain. */
  async authenticate(token: string): Promise<AuthenticatedUser | undefined> {
    const [row] = await this.db.update(apiTokens).set({ lastUsedAt: new Date() })
      .from(users)
      .where(and(
        eq(apiTokens.tokenHash, hashApiToken(token)), isNull(apiTokens.revokedAt), eq(users.id, apiTokens.userId),
        or(isNull(apiTokens.expiresAt), gt(apiTokens.expiresAt, sql`now()`)),
      ))
      .returning({ id: users.id, username: users.username, permissions: users.permissions, tokenId: apiTokens.id, tokenIssuers: apiTokens.issuerChain });
    return row;
  }

  /** With BOOTSTRAP_ADMIN_TOKEN set and no user yet, creates `admin` with every permission and that token. */
  async bootstrapAdmin(token: string): Promise<boolean> {
    const by = systemActor('bootstrap');
    return this.db.transaction(async (tx) => {
      await tx.execute(sql`select pg_advisory_xact_lock(7460152)`);
      const [{ count } = { count: 0 }] = await tx.select({ count: sql<number>`count(*)::int` }).from(users);
      if (count > 0) return false;
      const [admin] = await tx.insert(users).values({ username: 'admin', permissions: [...ALL_PERMISSIONS] })
        .returning({ id: users.id });
      // The operator chose this token and it lives in the deployment's configuration: it never expires by default.
      const [t] = await tx.insert(apiTokens).values({
        userId: admin!.id, tokenHash: hashApiToken(token), description: 'BOOTSTRAP_ADMIN_TOKEN', issuedBy: by.name, issuerChain: issuerChainFor(by),
      }).returning({ id: apiTokens.id });
      await record(tx, { actor: by.name, action: 'user.create', target: 'user:admin', changes: diffForAudit(null, { permissions: [...ALL_PERMISSIONS].sort() }) });
      await record(tx, { actor: by.name, action: 'token.create', target: 'user:admin', changes: { tokenId: { from: null, to: t!.id }, description: { from: null, to: 'BOOTSTRAP_ADMIN_TOKEN' } } });
      return true;
    });
  }
}
