import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { ApplyJobStore } from '../../db/apply-jobs';
import { UserStore } from '../../db/users';
import { signWebhookBody } from '../../domain/webhook-signature';
import { decideUpdate } from '../../workflows/definitions';
import * as m from '../support/merges';
import { apiSignedDecision, getRequest, requestDeletion } from '../support/deletion-requests';
import { startStack, eventually, WEBHOOK_SECRET, type Stack } from '../support/stack';

/** Where a request claims to come from; the stack trusts loopback as its reverse proxy, so each test is its own client. */
const from = (address: string) => ({ 'x-forwarded-for': address });

/** An open SSE stream read over real HTTP: the ids of the events so far. */
interface OpenStream { status: number; headers: Headers; ids: number[]; body: any; waitFor(n: number): Promise<void>; close(): void }

/**
 * Abuse and limits (issue 11 §6) on the real stack: body size and malformed JSON on every route, failed
 * authentication per address and plans per user (429 + Retry-After, counted in PostgreSQL), the plans' proxbox-api
 * budget, concurrent event streams per user with one shared read per job, and deletion refusals that cannot flood a
 * request's history or Temporal's.
 */
describe('abuse and limits', () => {
  let s: Stack;
  let nobodyToken = '';
  let seq = 0;
  beforeAll(async () => {
    s = await startStack({
      env: {
        AUTH_FAILURES_PER_IP: '3', AUTH_FAILURE_WINDOW_S: '300', PLAN_REQUESTS_PER_USER_PER_MIN: '3', PLAN_PROXBOX_CALLS_PER_MIN: '10',
        SSE_STREAMS_PER_USER: '2', API_TRUSTED_PROXIES: '127.0.0.1',
      },
    });
    const users = new UserStore(s.system.database.db);
    await users.create('nobody', []);
    nobodyToken = (await users.createToken('nobody'))!.token;
  });
  afterAll(async () => { await s?.stop(); });

  async function openStream(token: string, jobId: string): Promise<OpenStream> {
    const abort = new AbortController();
    const res = await fetch(`${s.api}/api/v1/apply-jobs/${jobId}/events`, { headers: { authorization: `Bearer ${token}` }, signal: abort.signal });
    const stream: OpenStream = { status: res.status, headers: res.headers, ids: [], body: null, waitFor: async () => {}, close: () => abort.abort() };
    if (res.status !== 200) {
      stream.body = await res.json();
      return stream;
    }
    const reader = res.body!.getReader();
    let buffered = '';
    void (async () => {
      try {
        for (;;) {
          const { done, value } = await reader.read();
          if (done) return;
          buffered += new TextDecoder().decode(value);
          for (const match of buffered.matchAll(/^id: (\d+)$/gm)) if (!stream.ids.includes(Number(match[1]))) stream.ids.push(Number(match[1]));
        }
      } catch { /* aborted */ }
    })();
    stream.waitFor = (n) => eventually(async () => (stream.ids.length >= n ? true : undefined), `${n} events on the stream`).then(() => {});
    return stream;
  }

  it('limits every body and answers malformed JSON alike on every route: 413 and 400 problem+json', async () => {
    // Every route the API documents (the document is generated from the routes themselves).
    const doc = await (await fetch(`${s.api}/openapi.json`)).json() as { paths: Record<string, Record<string, unknown>> };
    const routes = Object.entries(doc.paths).flatMap(([path, ops]) => Object.keys(ops).map((method) => ({ method, path })))
      .filter((r) => ['post', 'put', 'patch', 'delete'].includes(r.method) && !r.path.includes('/hooks/'));
    expect(routes.length).toBeGreaterThan(10);
    const concrete = (path: string) => path.replace('{id}', '00000000-0000-4000-8000-000000000000').replace('{branchId}', '1')
      .replace('{username}', 'carol').replace('{tokenId}', '00000000-0000-4000-8000-000000000000')
      .replace(/deletion-requests\/00000000-[^/]+/, 'deletion-requests/1').replace(/proxmox-endpoints\/00000000-[^/]+/, 'proxmox-endpoints/1');
    const big = JSON.stringify({ padding: 'x'.repeat(100 * 1024) });
    for (const { method, path } of routes) {
      const url = concrete(path);
      const tooBig = await s.call(s.tokens.admin, method.toUpperCase(), url, big);
      expect(tooBig.status, `${method} ${url}`).toBe(413);
      expect(tooBig.headers.get('content-type')).toBe('application/problem+json');
      expect(tooBig.body).toMatchObject({ status: 413, code: 'payload_too_large', detail: 'Request bodies are limited to 65536 bytes.' });
      for (const malformed of ['{"vmid": ', 'not json', '{"a":1}}']) {
        const res = await s.call(s.tokens.admin, method.toUpperCase(), url, malformed);
        expect(res.status, `${method} ${url} ${malformed}`).toBe(400);
        expect(res.headers.get('content-type')).toBe('application/problem+json');
        expect(res.body).toMatchObject({ status: 400, code: 'malformed_json', detail: 'The request body is not valid UTF-8 JSON.' });
      }
    }
    // The webhook answers malformed JSON the same way (after its signature), and has its own larger limit.
    const notJson = 'event=branch_merged';
    const hook = await fetch(`${s.api}/api/v1/hooks/netbox`, { method: 'POST', headers: { 'x-hook-signature': signWebhookBody(WEBHOOK_SECRET, notJson) }, body: notJson });
    expect(hook.status).toBe(400);
    expect(await hook.json()).toMatchObject({ code: 'malformed_json', detail: 'The request body is not valid UTF-8 JSON.' });
    // Unknown routes and the ops routes are limited too.
    expect((await s.call(s.tokens.admin, 'POST', '/nowhere', big)).status).toBe(413);
    expect((await s.call(s.tokens.admin, 'POST', '/healthz', big)).status).toBe(413);
  });

  it('locks an address out after too many failed authentications (429, Retry-After), valid token or not; other addresses go on', async () => {
    const attacker = from('203.0.113.9');
    for (let i = 0; i < 3; i++) {
      const res = await s.call(`guess-${i}`, 'GET', '/api/v1/me', undefined, attacker);
      expect(res.status).toBe(401);
    }
    const locked = await s.call('guess-4', 'GET', '/api/v1/me', undefined, attacker);
    expect(locked.status).toBe(429);
    expect(locked.headers.get('content-type')).toBe('application/problem+json');
    expect(locked.body).toMatchObject({ status: 429, code: 'too_many_auth_failures' });
    const retryAfter = Number(locked.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThan(250);
    expect(retryAfter).toBeLessThanOrEqual(300);
    // A right guess from a locked address gains nothing; the webhook counts and refuses the same way.
    expect((await s.call(s.tokens.carol, 'GET', '/api/v1/me', undefined, attacker)).status).toBe(429);
    const hook = await fetch(`${s.api}/api/v1/hooks/netbox`, { method: 'POST', headers: { ...attacker, 'x-hook-signature': 'ab'.repeat(64) }, body: '{}' });
    expect(hook.status).toBe(429);
    expect(Number(hook.headers.get('retry-after'))).toBeGreaterThan(0);
    // Another client, behind the same trusted proxy, is not affected; nor is a missing token counted as a guess.
    const other = from('198.51.100.20');
    for (let i = 0; i < 5; i++) expect((await fetch(`${s.api}/api/v1/me`, { headers: other })).status).toBe(401);
    expect((await s.call(s.tokens.carol, 'GET', '/api/v1/me', undefined, other)).status).toBe(200);
  });

  it('limits plans per user (429, Retry-After)', async () => {
    seq += 1;
    const empty = s.netbox.createBranch({ name: `quiet-${seq}`, owner: 'bob', customFields: { apply_to_proxmox: true } });
    for (let i = 0; i < 3; i++) expect((await s.call(s.tokens.carol, 'POST', `/api/v1/branches/${empty.id}/plan`, {})).status).toBe(200);
    const refused = await s.call(s.tokens.carol, 'GET', `/api/v1/branches/${empty.id}/plan-summary`);
    expect(refused.status).toBe(429);
    expect(refused.body).toMatchObject({ code: 'rate_limited', detail: expect.stringContaining('at most 3 per minute per user') });
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
    expect((await s.call(s.tokens.bob, 'POST', `/api/v1/branches/${empty.id}/plan`, {})).status).toBe(200);
  });

  it('bounds the proxbox-api calls of all plans together per minute, failing the plan closed past the budget', async () => {
    const { branch } = m.guestBranch(s, 'budget', 781);
    const before = s.proxbox.control.calls.length;
    for (const token of [s.tokens.alice, s.tokens.admin]) {
      const ok = await s.call(token, 'POST', `/api/v1/branches/${branch.id}/plan`, {});
      expect(ok.body.permitted, JSON.stringify(ok.body.message)).toBe(true);
    }
    expect(s.proxbox.control.calls.length - before).toBe(10);
    const spent = await s.call(s.tokens.alice, 'POST', `/api/v1/branches/${branch.id}/plan`, {});
    expect(spent.status).toBe(200);
    expect(spent.body.permitted).toBe(false);
    expect(spent.body.message).toMatch(/^proxbox-intent preflight unavailable: the plans' proxbox-api budget \(10 calls per minute, shared by every plan\) is spent; retry in \d+ s\. Retry, or clear apply_to_proxmox\.$/);
    expect(s.proxbox.control.calls.length - before).toBe(10);
  });

  /** A job without a workflow: its stream stays open until closed. */
  async function watchedJob(schemaId: string) {
    const jobs = new ApplyJobStore(s.system.database.db);
    const { job } = await jobs.ensure({
      workflowId: `apply:${schemaId}:1700000000000`, branchId: 999, branchSchemaId: schemaId, branchName: 'watched', mergedAt: new Date(1_700_000_000_000),
      username: 'alice', source: 'api',
    });
    await jobs.appendEvent(job.id, 'log', { message: 'first' }, 'first');
    return { jobs, job };
  }

  it('caps live event streams per user (429, Retry-After); a closed stream gives its place back', async () => {
    const { job } = await watchedJob('sse00001');
    const streams: OpenStream[] = [];
    try {
      for (let i = 0; i < 2; i++) {
        const stream = await openStream(s.tokens.carol, job.id);
        expect(stream.status).toBe(200);
        streams.push(stream);
      }
      const third = await openStream(s.tokens.carol, job.id);
      expect(third.status).toBe(429);
      expect(third.headers.get('content-type')).toBe('application/problem+json');
      expect(third.body).toMatchObject({ code: 'too_many_streams', detail: expect.stringContaining('At most 2 live event streams per user') });
      expect(Number(third.headers.get('retry-after'))).toBeGreaterThan(0);
      const bobs = await openStream(s.tokens.bob, job.id);
      expect(bobs.status).toBe(200);
      streams.push(bobs);

      streams.shift()!.close();
      const again = await eventually(async () => {
        const st = await openStream(s.tokens.carol, job.id);
        return st.status === 200 ? st : undefined;
      }, 'a stream in the place of the closed one');
      streams.push(again);
      await again.waitFor(1);
    } finally {
      for (const st of streams) st.close();
    }
  });

  it('reads the new events of a job once per notification for all of its streams in a process', async () => {
    const { jobs, job } = await watchedJob('sse00002');
    const streams: OpenStream[] = [];
    try {
      for (const token of [s.tokens.admin, s.tokens.alice, s.tokens.bob, s.tokens.carol]) {
        for (let i = 0; i < 2; i++) streams.push(await openStream(token, job.id));
      }
      expect(streams.map((st) => st.status)).toEqual(Array(8).fill(200));
      for (const st of streams) await st.waitFor(1);
      const reads = vi.spyOn(ApplyJobStore.prototype, 'eventsAfter');
      try {
        await jobs.appendEvent(job.id, 'log', { message: 'second' }, 'second');
        for (const st of streams) await st.waitFor(2);
        expect(reads).toHaveBeenCalledTimes(1);
      } finally {
        reads.mockRestore();
      }
    } finally {
      for (const st of streams) st.close();
    }
  });

  it('records a refused deletion decision once per user and minute, only for users who hold a permission', async () => {
    const { request } = await requestDeletion(s, { vmid: 791, name: 'retire-791', node: 'pve01', kind: 'qemu' });
    const approve = (token: string) => s.call(token, 'POST', `/api/v1/deletion-requests/${request.id}/approve`, { vmid: 791 });
    for (let i = 0; i < 5; i++) expect((await approve(s.tokens.carol)).status).toBe(403);
    for (let i = 0; i < 3; i++) expect((await approve(nobodyToken)).status).toBe(403);
    const after = await getRequest(s, request.id);
    expect(after.history.filter((h: any) => h.outcome === 'refused').map((h: any) => [h.actor, h.action])).toEqual([['carol', 'approve']]);
    expect(after.state).toBe('pending');
  });

  it('rejects an unsigned or malformed decide update before it reaches the workflow history', async () => {
    const { request } = await requestDeletion(s, { vmid: 792, name: 'retire-792', node: 'pve02', kind: 'lxc' });
    const handle = s.system.temporal.workflow.getHandle(request.workflowId);
    const genuine = apiSignedDecision(request);
    for (const bad of [{ decision: genuine.decision }, { decision: genuine.decision, signature: '' }, { ...genuine, decision: { ...genuine.decision, action: 'destroy' } }, 'approve']) {
      await expect(handle.executeUpdate(decideUpdate, { args: [bad as never] })).rejects.toMatchObject({
        cause: { type: 'forged_decision', message: 'Decision refused: malformed decision.' },
      });
    }
    const history = await handle.fetchHistory();
    expect(history.events!.filter((e) => e.workflowExecutionUpdateAcceptedEventAttributes || e.workflowExecutionUpdateAdmittedEventAttributes)).toEqual([]);
    expect((await getRequest(s, request.id)).history.filter((h: any) => h.outcome === 'refused')).toEqual([]);
  });
});
