import { and, eq, isNull, sql } from 'drizzle-orm';
import type { Db } from './client';
import { apiTokens, users } from './schema';
import { ALL_PERMISSIONS, normalizePermissions } from '../domain/permissions';
import { hashApiToken, newApiToken } from '../domain/tokens';

export interface UserView { username: string; permissions: string[]; createdAt: Date }
export interface AuthenticatedUser { id: number; username: string; permissions: string[] }

export class UserStore {
  constructor(private readonly db: Db) {}

  async list(): Promise<UserView[]> {
    return this.db.select({ username: users.username, permissions: users.permissions, createdAt: users.createdAt })
      .from(users).orderBy(users.username);
  }

  async get(username: string): Promise<UserView | undefined> {
    const [row] = await this.db.select({ username: users.username, permissions: users.permissions, createdAt: users.createdAt })
      .from(users).where(eq(users.username, username));
    return row;
  }

  async permissionsOf(username: string): Promise<string[]> {
    return (await this.get(username))?.permissions ?? [];
  }

  /** Creates the user, or returns undefined when the name is taken. */
  async create(username: string, permissions: readonly string[]): Promise<UserView | undefined> {
    const [row] = await this.db.insert(users)
      .values({ username, permissions: normalizePermissions(permissions) })
      .onConflictDoNothing().returning({ username: users.username, permissions: users.permissions, createdAt: users.createdAt });
    return row;
  }

  async setPermissions(username: string, permissions: readonly string[]): Promise<UserView | undefined> {
    const [row] = await this.db.update(users).set({ permissions: normalizePermissions(permissions) })
      .where(eq(users.username, username))
      .returning({ username: users.username, permissions: users.permissions, createdAt: users.createdAt });
    return row;
  }

  async grant(username: string, permissions: readonly string[]): Promise<UserView | undefined> {
    const current = await this.get(username);
    if (!current) return undefined;
    return this.setPermissions(username, [...current.permissions, ...permissions]);
  }

  async delete(username: string): Promise<boolean> {
    const rows = await this.db.delete(users).where(eq(users.username, username)).returning({ id: users.id });
    return rows.length > 0;
  }

  /** Issues a token for the user; the plaintext is returned here and never again. */
  async createToken(username: string, description = ''): Promise<{ id: string; token: string; prefix: string } | undefined> {
    const [user] = await this.db.select({ id: users.id }).from(users).where(eq(users.username, username));
    if (!user) return undefined;
    const { token, hash, prefix } = newApiToken();
    const [row] = await this.db.insert(apiTokens).values({ userId: user.id, tokenHash: hash, prefix, description })
      .returning({ id: apiTokens.id });
    return { id: row!.id, token, prefix };
  }

  async listTokens(username: string) {
    return this.db.select({ id: apiTokens.id, prefix: apiTokens.prefix, description: apiTokens.description,
      createdAt: apiTokens.createdAt, lastUsedAt: apiTokens.lastUsedAt, revokedAt: apiTokens.revokedAt })
      .from(apiTokens).innerJoin(users, eq(users.id, apiTokens.userId)).where(eq(users.username, username));
  }

  async revokeToken(username: string, tokenId: string): Promise<boolean> {
    const [user] = await this.db.select({ id: users.id }).from(users).where(eq(users.username, username));
    if (!user) return false;
    const rows = await this.db.update(apiTokens).set({ revokedAt: new Date() })
      .where(and(eq(apiTokens.id, tokenId), eq(apiTokens.userId, user.id), isNull(apiTokens.revokedAt)))
      .returning({ id: apiTokens.id });
    return rows.length > 0;
  }

  async authenticate(token: string): Promise<AuthenticatedUser | undefined> {
    const [row] = await this.db.update(apiTokens).set({ lastUsedAt: new Date() })
      .from(users)
      .where(and(eq(apiTokens.tokenHash, hashApiToken(token)), isNull(apiTokens.revokedAt), eq(users.id, apiTokens.userId)))
      .returning({ id: users.id, username: users.username, permissions: users.permissions });
    return row;
  }

  /** With BOOTSTRAP_ADMIN_TOKEN set and no user yet, creates `admin` with every permission and that token. */
  async bootstrapAdmin(token: string): Promise<boolean> {
    return this.db.transaction(async (tx) => {
      await tx.execute(sql`select pg_advisory_xact_lock(7460152)`);
      const [{ count } = { count: 0 }] = await tx.select({ count: sql<number>`count(*)::int` }).from(users);
      if (count > 0) return false;
      const [admin] = await tx.insert(users).values({ username: 'admin', permissions: [...ALL_PERMISSIONS] })
        .returning({ id: users.id });
      await tx.insert(apiTokens).values({ userId: admin!.id, tokenHash: hashApiToken(token), prefix: token.slice(0, 10), description: 'bootstrap' });
      return true;
    });
  }
}
