import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UserStore } from '../../db/users';
import { decodePayloadKey, payloadKeyId } from '../../infra/payload-codec';
import { eventually, startStack, type Stack } from '../support/stack';
import { finishedJob, guestBranch } from '../support/merges';
import { getRequest, requestDeletion } from '../support/deletion-requests';
import { rawHistoryText } from '../support/raw-history';
import { recordHistoryIfAsked } from '../support/histories';
import { TEST_PAYLOAD_KEY } from '../support/payload-key';

const UI_ORIGIN = 'http://127.0.0.1:8233';
type WirePayload = { metadata: Record<string, string>; data: string };

/** Every payload of a workflow's history, as the Temporal UI sends them to a codec server (bytes in base64). */
async function historyPayloads(s: Stack, workflowId: string): Promise<WirePayload[]> {
  const history = await s.system.temporal.workflow.getHandle(workflowId).fetchHistory();
  const found: WirePayload[] = [];
  const walk = (value: unknown): void => {
    if (!value || typeof value !== 'object' || value instanceof Uint8Array) return;
    const o = value as Record<string, unknown>;
    if (o.metadata && o.data instanceof Uint8Array) {
      found.push({
        metadata: Object.fromEntries(Object.entries(o.metadata as Record<string, Uint8Array>).map(([k, v]) => [k, Buffer.from(v).toString('base64')])),
        data: Buffer.from(o.data).toString('base64'),
      });
      return;
    }
    Object.values(o).forEach(walk);
  };
  walk(history);
  return found;
}

const dataText = (payloads: WirePayload[]) => payloads.map((p) => Buffer.from(p.data, 'base64').toString('utf8')).join('\n');

describe('with TEMPORAL_PAYLOAD_ENCRYPTION_KEY set, Temporal holds ciphertext, and /codec shows it to authorised operators only', () => {
  let s: Stack;
  let workflowId: string;
  let dave: string;
  beforeAll(async () => {
    s = await startStack({ env: { TEMPORAL_PAYLOAD_ENCRYPTION_KEY: TEST_PAYLOAD_KEY } });
    const users = new UserStore(s.system.database.db);
    await users.create('dave', ['trigger_apply']);
    dave = (await users.createToken('dave'))!.token;
  });
  afterAll(async () => { await s?.stop(); });

  it('applies a merge as usual, and its raw history holds no plaintext of the inputs, results or summaries', async () => {
    const { branch } = guestBranch(s, 'cipher-web', 731);
    await s.netbox.mergeBranch(branch.id, 'alice');
    const job = await finishedJob(s, (await jobOf(s, branch.id)).id);
    expect(job.state).toBe('succeeded');
    expect(s.proxbox.cluster.getGuest(731)).toBeTruthy();
    workflowId = job.workflowId;
    await s.system.temporal.workflow.getHandle(workflowId).result(); // the client decrypts results transparently

    const raw = await rawHistoryText(s.system.temporal, workflowId);
    expect(raw).toContain('binary/encrypted');
    expect(raw).toContain(s.system.temporalSecurity.payloadKeyId);
    expect(s.system.temporalSecurity.payloadKeyId).toBe(payloadKeyId(decodePayloadKey(TEST_PAYLOAD_KEY)!));
    await recordHistoryIfAsked(s.system.temporal, workflowId, 'apply-encrypted');
    // Search attributes (ProxboxUser, ProxboxBranch, ProxboxState, …) stay readable: Temporal indexes them.
    for (const plaintext of ['cipher-web-vm', job.id, 'local-lvm', 'create qemu 731']) expect(raw, plaintext).not.toContain(plaintext);
  });

  it('encrypts decisions (updates) and deletion inputs too', async () => {
    const { request } = await requestDeletion(s, { vmid: 732, name: 'retire-cipher', node: 'pve01', kind: 'qemu' });
    const res = await s.call(s.tokens.bob, 'POST', `/api/v1/deletion-requests/${request.id}/reject`, { reason: 'kept-for-the-audit' });
    expect(res.status).toBe(200);
    expect((await getRequest(s, request.id)).state).toBe('rejected');
    await s.system.temporal.workflow.getHandle(request.workflowId).result();
    const raw = await rawHistoryText(s.system.temporal, request.workflowId);
    for (const plaintext of ['retire-cipher', 'kept-for-the-audit', 'bob']) expect(raw, plaintext).not.toContain(plaintext);
    await recordHistoryIfAsked(s.system.temporal, request.workflowId, 'deletion-rejected-encrypted');
  });

  it('decodes a history\'s payloads for a token with view, the Temporal remote codec way', async () => {
    const payloads = await historyPayloads(s, workflowId);
    expect(payloads.length).toBeGreaterThan(3);
    expect(dataText(payloads)).not.toContain('cipher-web-vm');
    const res = await fetch(`${s.api}/codec/decode`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-namespace': s.system.temporal.options.namespace, authorization: `Bearer ${s.tokens.carol}`, origin: UI_ORIGIN },
      body: JSON.stringify({ payloads }),
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('access-control-allow-origin')).toBe(UI_ORIGIN);
    const decoded = (await res.json()) as { payloads: WirePayload[] };
    expect(decoded.payloads).toHaveLength(payloads.length);
    expect(Buffer.from(decoded.payloads[0]!.metadata.encoding!, 'base64').toString()).toBe('json/plain');
    expect(dataText(decoded.payloads)).toContain('cipher-web-vm');
  });

  it('refuses to decode without a token, with a token lacking view, for another namespace, or altered payloads; encoding needs manage_settings', async () => {
    const payloads = (await historyPayloads(s, workflowId)).slice(0, 2);
    const post = (path: string, token: string | null, body: unknown = { payloads }, headers: Record<string, string> = {}) => fetch(`${s.api}${path}`, {
      method: 'POST', body: JSON.stringify(body),
      headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}), ...headers },
    }).then(async (r) => ({ status: r.status, body: (await r.json()) as Record<string, any> }));

    const anonymous = await post('/codec/decode', null);
    expect(anonymous.status).toBe(401);
    expect(JSON.stringify(anonymous.body)).not.toContain('cipher-web-vm');
    expect((await post('/codec/decode', 'not-a-token')).status).toBe(401);
    const noView = await post('/codec/decode', dave);
    expect(noView.status).toBe(403);
    expect(noView.body.code).toBe('permission_denied');
    expect((await post('/codec/decode', s.tokens.carol, { payloads }, { 'x-namespace': 'someone-else' })).body.code).toBe('wrong_namespace');
    expect((await post('/codec/decode', s.tokens.carol, { payloads: 'all of them' })).status).toBe(422);
    const altered = { ...payloads[0]!, data: Buffer.from(Buffer.from(payloads[0]!.data, 'base64').map((b, i) => (i === 20 ? b ^ 1 : b))).toString('base64') };
    const tampered = await post('/codec/decode', s.tokens.carol, { payloads: [altered] });
    expect(tampered.status).toBe(422);
    expect(tampered.body.code).toBe('payload_not_decodable');

    const plain = { metadata: { encoding: Buffer.from('json/plain').toString('base64') }, data: Buffer.from('"hello"').toString('base64') };
    expect((await post('/codec/encode', s.tokens.carol, { payloads: [plain] })).status).toBe(403);
    const encoded = await post('/codec/encode', s.tokens.admin, { payloads: [plain] });
    expect(encoded.status).toBe(200);
    expect(Buffer.from(encoded.body.payloads[0].metadata.encoding, 'base64').toString()).toBe('binary/encrypted');
    expect((await post('/codec/decode', s.tokens.carol, encoded.body)).body.payloads).toEqual([plain]);
  });

  it('lets a browser sign in at /codec (the UI cannot send our token itself): the session cookie decodes like the token', async () => {
    const page = await fetch(`${s.api}/codec`);
    expect(page.headers.get('content-type')).toContain('text/html');
    const html = await page.text();
    expect(html).toContain('Include cross-origin credentials');
    expect(() => new Function(/<script>([\s\S]*)<\/script>/.exec(html)![1]!)).not.toThrow(); // the page's script is valid JavaScript

    const payloads = (await historyPayloads(s, workflowId)).slice(0, 3);
    const signIn = (token: string) => fetch(`${s.api}/codec/session`, { method: 'POST', headers: { authorization: `Bearer ${token}` } });
    const decodeWithCookie = (cookie: string) => fetch(`${s.api}/codec/decode`, {
      method: 'POST', body: JSON.stringify({ payloads }), headers: { 'content-type': 'application/json', cookie, origin: UI_ORIGIN },
    });

    const refused = await signIn(dave);
    expect(refused.status).toBe(403);
    expect(refused.headers.get('set-cookie')).toBeNull();
    const session = await signIn(s.tokens.carol);
    expect(session.status).toBe(204);
    const cookie = session.headers.get('set-cookie')!;
    expect(cookie).toMatch(/^proxbox_codec=[^;]+;/);
    expect(cookie).toContain('Path=/codec');
    expect(cookie).toContain('HttpOnly');
    expect(cookie).toContain('SameSite=Lax'); // plain http here; over https it is SameSite=None; Secure

    const decoded = await decodeWithCookie(cookie.split(';')[0]!);
    expect(decoded.status).toBe(200);
    expect(decoded.headers.get('access-control-allow-credentials')).toBe('true');
    expect(dataText(((await decoded.json()) as { payloads: WirePayload[] }).payloads)).toContain('"jobId"');
    expect((await decodeWithCookie('proxbox_codec=forged-token')).status).toBe(401);
    // The cookie only ever authenticates decoding.
    expect((await fetch(`${s.api}/codec/encode`, { method: 'POST', body: JSON.stringify({ payloads }), headers: { 'content-type': 'application/json', cookie: cookie.split(';')[0]! } })).status).toBe(401);
    expect((await fetch(`${s.api}/api/v1/deletion-requests`, { headers: { cookie: cookie.split(';')[0]! } })).status).toBe(401);

    const signOut = await fetch(`${s.api}/codec/session`, { method: 'DELETE', headers: { cookie: cookie.split(';')[0]! } });
    expect(signOut.status).toBe(204);
    expect(signOut.headers.get('set-cookie')).toMatch(/^proxbox_codec=;.*Max-Age=0/);
  });

  it('answers the Temporal UI\'s CORS preflight for its own origin only', async () => {
    const preflight = (origin: string) => fetch(`${s.api}/codec/decode`, {
      method: 'OPTIONS', headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,content-type,x-namespace' },
    });
    const ui = await preflight(UI_ORIGIN);
    expect(ui.status).toBe(204);
    expect(ui.headers.get('access-control-allow-origin')).toBe(UI_ORIGIN);
    expect(ui.headers.get('access-control-allow-headers')?.toLowerCase()).toContain('x-namespace');
    expect(ui.headers.get('access-control-allow-headers')?.toLowerCase()).toContain('authorization');
    expect((await preflight('https://evil.example')).headers.get('access-control-allow-origin')).not.toBe('https://evil.example');
  });
});

async function jobOf(s: Stack, branchId: number): Promise<{ id: string }> {
  return eventually(async () => (await s.call(s.tokens.carol, 'GET', `/api/v1/apply-jobs?branchId=${branchId}`)).body.items[0], 'the job');
}
