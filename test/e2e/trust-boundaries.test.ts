import { execFile } from 'node:child_process';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { userInfo } from 'node:os';
import { fileURLToPath } from 'node:url';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { WorkflowUpdateFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { ProxboxClient, ProxboxError } from '../../clients/proxbox';
import { parseEnv } from '../../config/env';
import { SELF_APPROVAL_BLOCKED } from '../../domain/messages';
import { isSealed, newSecretKey } from '../../domain/secret-box';
import { SELF_APPROVAL_PHRASE } from '../../domain/settings';
import { startSystem, type RunningSystem } from '../../runtime/system';
import { decideUpdate } from '../../workflows/definitions';
import { createFreshDatabase } from '../support/database';
import { apiSignedDecision, getRequest, requestDeletion, settled, type RequestView } from '../support/deletion-requests';
import { PROXBOX_KEY, startStack, type Stack } from '../support/stack';

const REPO = fileURLToPath(new URL('../../', import.meta.url));

function run(args: string[], env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile('npx', ['tsx', ...args], { cwd: REPO, env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env }, timeout: 60_000 },
      (err, stdout, stderr) => resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }));
  });
}

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as { port: number }).port}`;
}

describe('trust boundaries: four eyes, tokens, the audit log and the proxbox-api key (issue 11 §3, §4)', () => {
  let s: Stack;
  let pg: postgres.Sql;
  const tokens: Record<string, string> = {};
  let request: RequestView;

  beforeAll(async () => {
    s = await startStack();
    pg = postgres(s.databaseUrl, { max: 1, onnotice: () => {} });
  });
  afterAll(async () => {
    await pg?.end();
    await s?.stop();
  });

  const storedKey = async () => (await pg<{ api_key: string }[]>`select api_key from backend where id = 1`)[0]!.api_key;

  it('the proxbox-api key is encrypted at rest; a plaintext key left in the database is sealed at the next start and still works', async () => {
    const sealed = await storedKey();
    expect(isSealed(sealed)).toBe(true);
    expect(sealed).not.toContain(PROXBOX_KEY);

    await pg`update backend set api_key = ${PROXBOX_KEY} where id = 1`;
    await s.restart();
    const resealed = await storedKey();
    expect(isSealed(resealed)).toBe(true);
    expect(resealed).not.toContain(PROXBOX_KEY);
    await s.restart();
    expect(await storedKey(), 'idempotent: an already sealed key is left as it is').toBe(resealed);
    // The next test's deletion request reads the cluster and tags the guest through proxbox-api with this key.
  });

  it('alice, who may manage users, creates tokens for bob and approves her own request with them: refused as self-approval', async () => {
    const alice = (await s.call(s.tokens.admin, 'GET', '/api/v1/users')).body.items.find((u: { username: string }) => u.username === 'alice');
    expect((await s.call(s.tokens.admin, 'PATCH', '/api/v1/users/alice', { permissions: [...alice.permissions, 'manage_users', 'manage_settings'] })).status).toBe(200);
    const forBob = await s.call(s.tokens.alice, 'POST', '/api/v1/users/bob/tokens', { description: 'made by alice' });
    expect(forBob.status).toBe(201);
    expect(forBob.body).toMatchObject({ issuedBy: 'alice', issuerChain: ['alice', 'system:internal'] });
    tokens.bobByAlice = forBob.body.token;
    tokens.bobByAliceId = forBob.body.id;
    // Laundering through a user of her own making does not help: the chain remembers who issued the issuer's token.
    expect((await s.call(s.tokens.alice, 'POST', '/api/v1/users', { username: 'mallory', permissions: ['manage_users'] })).status).toBe(201);
    tokens.mallory = (await s.call(s.tokens.alice, 'POST', '/api/v1/users/mallory/tokens', {})).body.token;
    const viaMallory = await s.call(tokens.mallory!, 'POST', '/api/v1/users/bob/tokens', { description: 'made by mallory' });
    expect(viaMallory.body).toMatchObject({ issuedBy: 'mallory', issuerChain: ['mallory', 'alice', 'system:internal'] });
    tokens.bobByMallory = viaMallory.body.token;

    ({ request } = await requestDeletion(s, { vmid: 811, name: 'retire-811', node: 'pve01', kind: 'qemu' }, { mergedBy: 'alice' }));
    expect(request.requestedBy).toBe('alice');
    for (const token of [tokens.bobByAlice, tokens.bobByMallory]) {
      const res = await s.call(token!, 'POST', `/api/v1/deletion-requests/${request.id}/approve`, { vmid: 811 });
      expect(res.status).toBe(403);
      expect(res.body).toMatchObject({ code: 'self_approval_blocked', detail: SELF_APPROVAL_BLOCKED });
    }
    expect((await getRequest(s, request.id)).state).toBe('pending');
  });

  it('the workflow re-checks it: a signed decision by bob with a token alice issued is refused there too', async () => {
    const handle = s.system.temporal.workflow.getHandle(request.workflowId);
    const err = await handle.executeUpdate(decideUpdate, { args: [apiSignedDecision(request, { tokenIssuers: ['mallory', 'alice'] })] }).then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(WorkflowUpdateFailedError);
    const cause = (err as WorkflowUpdateFailedError).cause as ApplicationFailure;
    expect(cause.type).toBe('self_approval_blocked');
    const r = await getRequest(s, request.id);
    expect(r.state).toBe('pending');
    expect(r.history.some((h: { outcome: string; actor: string; detail?: string }) => h.outcome === 'refused' && h.actor === 'bob' && h.detail === SELF_APPROVAL_BLOCKED)).toBe(true);
  });

  it('turning self-approval on needs its own phrase and is refused to alice while her request is pending; a refusal changes nothing', async () => {
    const before = (await s.call(s.tokens.carol, 'GET', '/api/v1/settings')).body;
    const noPhrase = await s.call(s.tokens.admin, 'PUT', '/api/v1/settings', { selfApproveAllowed: true, deletionRequestTtlDays: 3 });
    expect(noPhrase.status).toBe(422);
    expect(noPhrase.headers.get('content-type')).toContain('application/problem+json');
    expect(noPhrase.body).toMatchObject({ code: 'self_approval_confirmation_required', detail: `Allowing self-approval requires selfApprovalConfirmation to be exactly '${SELF_APPROVAL_PHRASE}'.` });
    for (const token of [s.tokens.alice, tokens.bobByAlice!]) {
      // bob's token made by alice has no manage_settings; alice has, and it would benefit her request.
      const res = await s.call(token, 'PUT', '/api/v1/settings', { selfApproveAllowed: true, selfApprovalConfirmation: SELF_APPROVAL_PHRASE, deletionRequestTtlDays: 3 });
      expect(res.status).toBe(403);
      expect(res.body.code).toBe(token === s.tokens.alice ? 'self_approval_change_blocked' : 'permission_denied');
    }
    expect((await s.call(s.tokens.carol, 'GET', '/api/v1/settings')).body).toEqual(before);

    const on = await s.call(s.tokens.admin, 'PUT', '/api/v1/settings', { selfApproveAllowed: true, selfApprovalConfirmation: SELF_APPROVAL_PHRASE });
    expect(on.status).toBe(200);
    expect(on.body.selfApproveAllowed).toBe(true);
    const off = await s.call(s.tokens.admin, 'PUT', '/api/v1/settings', { selfApproveAllowed: false });
    expect(off.body.selfApproveAllowed).toBe(false);

    // The four-eyes path still works for a real second person: bob's own token.
    const ok = await s.call(s.tokens.bob, 'POST', `/api/v1/deletion-requests/${request.id}/approve`, { vmid: 811 });
    expect(ok.status).toBe(200);
    expect(ok.body).toMatchObject({ authorizer: 'bob', authorizerTokenIssuers: ['system:internal'] });
    expect((await settled(s, request.id)).state).toBe('succeeded');
  });

  it('tokens: listed without the secret, revoked, expired; nothing of a token is stored in plaintext', async () => {
    const listed = await s.call(s.tokens.admin, 'GET', '/api/v1/users/bob/tokens');
    expect(listed.status).toBe(200);
    expect(listed.body.items.map((t: { issuedBy: string }) => t.issuedBy).sort()).toEqual(['alice', 'mallory', 'system:internal']);
    for (const t of listed.body.items) {
      expect(Object.keys(t).sort()).toEqual(['createdAt', 'description', 'expiresAt', 'id', 'issuedBy', 'issuerChain', 'lastUsedAt', 'revokedAt', 'state']);
      expect(t.lastUsedAt === null || !Number.isNaN(Date.parse(t.lastUsedAt))).toBe(true);
    }
    const text = JSON.stringify(listed.body);
    for (const token of [s.tokens.bob, tokens.bobByAlice!, tokens.bobByMallory!]) expect(text).not.toContain(token.slice(4, 12));
    const rows = JSON.stringify(await pg`select * from api_tokens`);
    for (const token of [s.tokens.bob, s.tokens.admin, tokens.bobByAlice!]) expect(rows).not.toContain(token.slice(4, 10));
    expect((await s.call(s.tokens.admin, 'GET', '/api/v1/users/nobody/tokens')).status).toBe(404);
    expect((await s.call(s.tokens.carol, 'GET', '/api/v1/users/bob/tokens')).status).toBe(403);

    expect((await s.call(s.tokens.admin, 'DELETE', `/api/v1/users/bob/tokens/${tokens.bobByAliceId}`)).status).toBe(204);
    expect((await s.call(tokens.bobByAlice!, 'GET', '/api/v1/me')).status).toBe(401);

    const past = await s.call(s.tokens.admin, 'POST', '/api/v1/users/bob/tokens', { expiresAt: '2020-01-01T00:00:00Z' });
    expect(past.status).toBe(422);
    expect((await s.call(s.tokens.admin, 'PUT', '/api/v1/settings', { tokenLifetimeDays: 2 })).body.tokenLifetimeDays).toBe(2);
    const short = await s.call(s.tokens.admin, 'POST', '/api/v1/users/bob/tokens', { description: 'default lifetime' });
    expect(Math.abs(Date.parse(short.body.expiresAt) - (Date.now() + 2 * 86_400_000))).toBeLessThan(60_000);
    const forever = await s.call(s.tokens.admin, 'POST', '/api/v1/users/bob/tokens', { expiresAt: null });
    expect(forever.body.expiresAt).toBeNull();
    expect((await s.call(short.body.token, 'GET', '/api/v1/me')).body.username).toBe('bob');
    await pg`update api_tokens set expires_at = now() - interval '1 second' where id = ${short.body.id}`;
    const expired = await s.call(short.body.token, 'GET', '/api/v1/me');
    expect(expired.status).toBe(401);
    expect(expired.body.detail).toBe('The token is unknown, revoked or expired.');
    expect((await s.call(s.tokens.admin, 'GET', '/api/v1/users/bob/tokens')).body.items.find((t: { id: string }) => t.id === short.body.id).state).toBe('expired');
    await s.call(s.tokens.admin, 'PUT', '/api/v1/settings', { tokenLifetimeDays: null });
  });

  it('PUT /backend with a new URL and no key: 422 and nothing changed; the same URL keeps the key', async () => {
    const before = (await s.call(s.tokens.carol, 'GET', '/api/v1/backend')).body;
    const stored = await storedKey();
    const res = await s.call(s.tokens.admin, 'PUT', '/api/v1/backend', { url: 'https://attacker.example:8443' });
    expect(res.status).toBe(422);
    expect(res.body).toMatchObject({ code: 'api_key_required' });
    expect(res.body.detail).toContain('the stored key is never sent to a new URL');
    expect((await s.call(s.tokens.carol, 'GET', '/api/v1/backend')).body).toEqual(before);
    expect(await storedKey()).toBe(stored);

    const same = await s.call(s.tokens.admin, 'PUT', '/api/v1/backend', { url: `${before.url}/`, timeoutMs: 9_000 });
    expect(same.status).toBe(200);
    expect(same.body).toEqual({ url: before.url, apiKeySet: true, timeoutMs: 9_000, urlRefusal: null });
    const rekeyed = await s.call(s.tokens.admin, 'PUT', '/api/v1/backend', { url: before.url, apiKey: PROXBOX_KEY, timeoutMs: 10_000 });
    expect(rekeyed.status).toBe(200);
    expect(JSON.stringify(rekeyed.body)).not.toContain(PROXBOX_KEY);
  });

  it('the audit log: who changed what, secrets masked, filterable and paginated, for manage_users or manage_settings only', async () => {
    expect((await s.call(s.tokens.carol, 'GET', '/api/v1/audit-log')).status).toBe(403);
    const all = await s.call(s.tokens.admin, 'GET', '/api/v1/audit-log?limit=500');
    expect(all.status).toBe(200);
    expect(JSON.stringify(all.body)).not.toContain(PROXBOX_KEY);
    const actions = all.body.items.map((e: { actor: string; action: string; target: string }) => `${e.actor} ${e.action} ${e.target}`);
    expect(actions).toEqual(expect.arrayContaining([
      'admin user.update user:alice', 'alice token.create user:bob', 'alice user.create user:mallory', 'mallory token.create user:bob',
      'admin settings.update settings', 'admin token.revoke user:bob', 'admin backend.update backend', 'system:start backend.reencrypt backend',
    ]));
    const grant = all.body.items.find((e: { action: string; target: string }) => e.action === 'user.update' && e.target === 'user:alice');
    expect(grant.changes.permissions.to).toEqual(expect.arrayContaining(['manage_users', 'manage_settings']));
    expect(grant.changes.permissions.from).not.toContain('manage_users');
    const backendChanges = all.body.items.filter((e: { action: string }) => e.action === 'backend.update').map((e: { actor: string; changes: unknown }) => [e.actor, e.changes]);
    expect(backendChanges).toEqual([
      ['admin', { timeoutMs: { from: 9_000, to: 10_000 } }],
      ['admin', { timeoutMs: { from: 10_000, to: 9_000 } }],
      ['system:internal', { url: { from: null, to: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+$/) }, apiKey: { from: null, to: '(masked)' }, timeoutMs: { from: null, to: 10_000 } }],
    ]);
    const selfApproval = all.body.items.find((e: { action: string; changes: Record<string, unknown> }) => e.action === 'settings.update' && 'selfApproveAllowed' in e.changes);
    expect(selfApproval).toMatchObject({ actor: 'admin', changes: { selfApproveAllowed: { from: true, to: false } } });
    expect(all.body.items.every((e: { at: string }) => !Number.isNaN(Date.parse(e.at)))).toBe(true);

    const byMallory = await s.call(s.tokens.alice, 'GET', '/api/v1/audit-log?actor=mallory&action=token');
    expect(byMallory.body.items.map((e: { action: string }) => e.action)).toEqual(['token.create']);
    expect((await s.call(s.tokens.admin, 'GET', `/api/v1/audit-log?since=${new Date(Date.now() + 60_000).toISOString()}`)).body).toEqual({ items: [], nextCursor: null });

    const paged: number[] = [];
    let cursor: string | null = null;
    do {
      const page: { status: number; body: { items: { id: number }[]; nextCursor: string | null } } =
        await s.call(s.tokens.admin, 'GET', `/api/v1/audit-log?limit=3${cursor ? `&cursor=${cursor}` : ''}`);
      expect(page.body.items.length).toBeLessThanOrEqual(3);
      paged.push(...page.body.items.map((e) => e.id));
      cursor = page.body.nextCursor;
    } while (cursor);
    expect(paged).toEqual(all.body.items.map((e: { id: number }) => e.id));
    expect((await s.call(s.tokens.admin, 'GET', '/api/v1/audit-log?cursor=nonsense')).body.code).toBe('invalid_cursor');
    expect((await s.call(s.tokens.admin, 'GET', '/api/v1/audit-log?since=yesterday')).status).toBe(422);
  });

  it('the command-line tool is audited under the OS user who ran it', async () => {
    const cli = await run(['cli/main.ts', 'user', 'add', 'dave', '--perm', 'view'], { DATABASE_URL: s.databaseUrl });
    expect(cli.stderr).toBe('');
    expect(cli.code).toBe(0);
    const actor = `cli:${userInfo().username}`;
    const res = await s.call(s.tokens.admin, 'GET', `/api/v1/audit-log?actor=${encodeURIComponent(actor)}`);
    expect(res.body.items).toMatchObject([{ actor, action: 'user.create', target: 'user:dave', changes: { permissions: { from: null, to: ['view'] } } }]);

    const made = await run(['cli/main.ts', 'token', 'create', 'dave', '--expires-in-days', '3'], { DATABASE_URL: s.databaseUrl });
    expect(made.code).toBe(0);
    const token = made.stdout.split('\n')[1]!;
    expect((await s.call(token, 'GET', '/api/v1/me')).body.username).toBe('dave');
    const [listed] = (await s.call(s.tokens.admin, 'GET', '/api/v1/users/dave/tokens')).body.items;
    expect(listed).toMatchObject({ issuedBy: actor, issuerChain: [actor], state: 'active' });
    expect(Math.abs(Date.parse(listed.expiresAt) - (Date.now() + 3 * 86_400_000))).toBeLessThan(120_000);
    expect((await s.call(s.tokens.admin, 'GET', `/api/v1/audit-log?actor=${encodeURIComponent(actor)}&action=token.create`)).body.items).toHaveLength(1);
    const bad = await run(['cli/main.ts', 'token', 'create', 'dave', '--expires-in-days', '0'], { DATABASE_URL: s.databaseUrl });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--expires-in-days must be a whole number of days from 1 to 3650');
  });
});

describe('the proxbox-api key never follows a redirect', () => {
  const seen: IncomingHttpHeaders[] = [];
  const target = createServer((req, res) => { seen.push(req.headers); res.setHeader('content-type', 'application/json').end('{"paths":{}}'); });
  let redirector: Server;
  let redirectorUrl: string;
  beforeAll(async () => {
    const targetUrl = await listen(target);
    redirector = createServer((req, res) => { res.writeHead(307, { location: `${targetUrl}${req.url}` }).end(); });
    redirectorUrl = await listen(redirector);
  });
  afterAll(() => { target.close(); redirector?.close(); });

  it('a redirecting proxbox-api is an error, and the redirect target never receives the key', async () => {
    const client = new ProxboxClient({ baseUrl: redirectorUrl, apiKey: 'the-real-key' });
    const err = await client.capabilities().then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(ProxboxError);
    expect((err as ProxboxError).message).toMatch(/answered GET \/openapi\.json with a redirect \(307 to http:\/\/127\.0\.0\.1:\d+\/openapi\.json\); redirects are never followed/);
    const post = await client.apply(1, { diffs: [] } as never).then(() => null, (e: unknown) => e);
    expect(post).toBeInstanceOf(ProxboxError);
    expect(seen).toEqual([]);
  });
});

describe('where the key may go, key rotation and a production start without a key', () => {
  let database: { url: string; drop(): Promise<void> };
  let system: RunningSystem | null = null;
  const admin = 'pbi_bootstrap-admin-token-0123456789';
  const k1 = newSecretKey();
  const k2 = newSecretKey();
  const envFor = (extra: Record<string, string>) => parseEnv({
    PORT: '0', DATABASE_URL: database.url, TEMPORAL_ADDRESS: inject('temporalAddress'), TEMPORAL_NAMESPACE: inject('temporalNamespace'),
    TEMPORAL_TASK_QUEUE: `e2e-${Math.random().toString(36).slice(2, 10)}`, APPROVAL_SIGNING_SECRET: 'e2e-approval-signing-secret-0123',
    BOOTSTRAP_ADMIN_TOKEN: admin, ...extra,
  });
  const put = async (body: unknown) => {
    const res = await fetch(`${system!.apiUrl}/api/v1/backend`, {
      method: 'PUT', headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' }, body: JSON.stringify(body),
    });
    return { status: res.status, body: await res.json() as Record<string, unknown> };
  };
  const storedKey = async () => {
    const sql = postgres(database.url, { max: 1, onnotice: () => {} });
    try { return (await sql<{ api_key: string }[]>`select api_key from backend`)[0]?.api_key; } finally { await sql.end(); }
  };

  beforeAll(async () => { database = await createFreshDatabase('proxbox_e2e_keys'); });
  afterAll(async () => { await system?.stop(); await database?.drop(); });

  it('plain http is refused unless allowed, and only allowed hosts may receive the key', async () => {
    system = await startSystem({ env: envFor({ SECRETS_ENCRYPTION_KEY: k1, PROXBOX_API_ALLOWED_HOSTS: 'proxbox.example' }), role: 'api' });
    const http = await put({ url: 'http://proxbox.example:8000', apiKey: 'key-one' });
    expect(http.status).toBe(422);
    expect(http.body).toMatchObject({ code: 'backend_url_refused' });
    expect(String(http.body.detail)).toContain('PROXBOX_API_ALLOW_HTTP=true');
    const elsewhere = await put({ url: 'https://attacker.example', apiKey: 'key-one' });
    expect(elsewhere.body).toMatchObject({ code: 'backend_url_refused', detail: 'The backend URL is refused: host attacker.example is not in PROXBOX_API_ALLOWED_HOSTS.' });
    expect(await storedKey()).toBeUndefined();
    expect((await put({ url: 'https://proxbox.example:8000', apiKey: 'key-one' })).status).toBe(200);
    expect(await storedKey()).not.toContain('key-one');
    const tokens = await fetch(`${system.apiUrl}/api/v1/users/admin/tokens`, { headers: { authorization: `Bearer ${admin}` } }).then((r) => r.json()) as { items: { issuedBy: string }[] };
    expect(tokens.items.map((t) => t.issuedBy)).toEqual(['system:bootstrap']);
    await system.stop();
    system = null;
  });

  it('rotation: with the old key as SECRETS_ENCRYPTION_KEY_PREVIOUS the key is sealed again under the new one; an unknown key stops the start', async () => {
    const underK1 = await storedKey();
    system = await startSystem({ env: envFor({ SECRETS_ENCRYPTION_KEY: k2, SECRETS_ENCRYPTION_KEY_PREVIOUS: k1 }), role: 'api' });
    expect((await system.endpoints.getBackend())?.apiKey).toBe('key-one');
    await system.stop();
    system = null;
    const underK2 = await storedKey();
    expect(underK2).not.toBe(underK1);
    expect(underK2!.split(':')[2]).not.toBe(underK1!.split(':')[2]);

    system = await startSystem({ env: envFor({ SECRETS_ENCRYPTION_KEY: k2 }), role: 'api' });
    expect((await system.endpoints.getBackend())?.apiKey).toBe('key-one');
    await system.stop();
    system = null;
    await expect(startSystem({ env: envFor({ SECRETS_ENCRYPTION_KEY: k1 }), role: 'api' }))
      .rejects.toThrow(/neither SECRETS_ENCRYPTION_KEY nor SECRETS_ENCRYPTION_KEY_PREVIOUS/);
  });

  it('a stored URL that a tightened policy refuses receives nothing until it is set again', async () => {
    system = await startSystem({ env: envFor({ SECRETS_ENCRYPTION_KEY: k2, PROXBOX_API_ALLOW_HTTP: 'true' }), role: 'api' });
    expect((await put({ url: 'http://127.0.0.1:9', apiKey: 'key-two' })).status).toBe(200);
    await system.stop();
    system = await startSystem({ env: envFor({ SECRETS_ENCRYPTION_KEY: k2 }), role: 'api' });
    expect(await system.endpoints.getBackend()).toBeUndefined();
    const shown = await fetch(`${system.apiUrl}/api/v1/backend`, { headers: { authorization: `Bearer ${admin}` } }).then((r) => r.json()) as Record<string, unknown>;
    expect(shown).toMatchObject({ url: 'http://127.0.0.1:9', apiKeySet: true });
    expect(String(shown.urlRefusal)).toContain('plain http is refused');
    await system.stop();
    system = null;
  });

  it('npm start without SECRETS_ENCRYPTION_KEY stops with a clear message', async () => {
    const res = await run(['scripts/start.ts', 'api'], {
      DATABASE_URL: database.url, APPROVAL_SIGNING_SECRET: 'e2e-approval-signing-secret-0123', NETBOX_WEBHOOK_SECRET: 'e2e-webhook-secret',
    });
    expect(res.code).toBe(1);
    expect(res.stderr).toContain('Missing required configuration: SECRETS_ENCRYPTION_KEY');
  });
});
