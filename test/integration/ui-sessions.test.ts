import { eq } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { uiSessions } from '../../db/schema';
import { SessionStore } from '../../db/sessions';
import { UserStore } from '../../db/users';
import { SESSION_IDLE_MS, hashSessionSecret } from '../../domain/sessions';
import { databaseProcesses } from '../support/database';

/** Sessions of the operator pages live in PostgreSQL and stand for the token they were opened with. */
describe('operator-page sessions in PostgreSQL', () => {
  const processes = databaseProcesses('proxbox_ui_sessions', 1);
  const db = () => processes[0]!.db;

  async function userWithSession(name: string) {
    const users = new UserStore(db());
    await users.create(name, ['view']);
    const { token, id: tokenId } = (await users.createToken(name))!;
    const user = (await users.authenticate(token))!;
    const sessions = new SessionStore(db());
    return { users, sessions, tokenId, opened: await sessions.open(user) };
  }

  it('keeps only the hash of the secret, and resolves to the user with current permissions', async () => {
    const { users, sessions, opened } = await userWithSession('dora');
    const [row] = await db().select().from(uiSessions).where(eq(uiSessions.id, opened.id));
    expect(row!.secretHash).toBe(hashSessionSecret(opened.secret));
    expect(JSON.stringify(row)).not.toContain(opened.secret);
    expect(await sessions.resolve(opened.secret)).toMatchObject({ username: 'dora', permissions: ['view'], sessionId: opened.id });
    await users.grant('dora', ['cancel_apply_job']);
    expect((await sessions.resolve(opened.secret))!.permissions).toEqual(['cancel_apply_job', 'view']);
    expect(await sessions.resolve('not-a-session')).toBeUndefined();
  });

  it('ends on sign-out, on an administrator\'s revocation, with its token, with its user, and when idle', async () => {
    const a = await userWithSession('erin');
    expect(await a.sessions.revokeBySecret(a.opened.secret, 'erin')).toBe(true);
    expect(await a.sessions.resolve(a.opened.secret)).toBeUndefined();

    const b = await userWithSession('fred');
    expect((await b.sessions.listActive('fred')).map((s) => s.id)).toEqual([b.opened.id]);
    expect(await b.sessions.revokeAllOf('fred', 'admin')).toBe(1);
    expect(await b.sessions.resolve(b.opened.secret)).toBeUndefined();
    expect(await b.sessions.listActive('fred')).toEqual([]);

    const c = await userWithSession('gina');
    expect(await c.users.revokeToken('gina', c.tokenId)).toBe(true);
    expect(await c.sessions.resolve(c.opened.secret)).toBeUndefined();

    const d = await userWithSession('hugo');
    expect(await d.users.delete('hugo')).toBe(true);
    expect(await d.sessions.resolve(d.opened.secret)).toBeUndefined();

    const e = await userWithSession('ines');
    await db().update(uiSessions).set({ lastSeenAt: new Date(Date.now() - SESSION_IDLE_MS - 1000) }).where(eq(uiSessions.id, e.opened.id));
    expect(await e.sessions.resolve(e.opened.secret)).toBeUndefined();
    const f = await userWithSession('jana');
    await db().update(uiSessions).set({ expiresAt: new Date(Date.now() - 1000) }).where(eq(uiSessions.id, f.opened.id));
    expect(await f.sessions.resolve(f.opened.secret)).toBeUndefined();
  });
});
