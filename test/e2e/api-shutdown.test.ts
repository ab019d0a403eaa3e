import { request as httpRequest } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, eventually, type Stack } from '../support/stack';
import { guestBranch } from '../support/merges';

/** A request on a connection of its own (no pooled keep-alive socket): how a new client reaches the API. */
function freshConnection(url: string): Promise<string> {
  return new Promise((resolve) => {
    const req = httpRequest(`${url}/readyz`, { agent: false }, (res) => { res.resume(); resolve(`answered ${res.statusCode}`); });
    req.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
    req.end();
  });
}

describe('the API on shutdown (SIGTERM, a deploy)', () => {
  let s: Stack;
  beforeAll(async () => { s = await startStack(); });
  afterAll(async () => { await s?.stop(); });

  it('refuses new connections, finishes the requests in flight, and ends live event streams so the stop is not held', async () => {
    // A running job with a live event stream: its only create is held up at proxbox-api.
    s.proxbox.control.addFault({ method: 'POST', path: '^/intent/apply$', mode: 'slow', delayMs: 8_000, times: 1 });
    const { branch } = guestBranch(s, 'deploy-during-stream', 741, { vmName: 'stream-01' });
    await s.netbox.mergeBranch(branch.id, 'alice');
    const job = await eventually(async () => (await s.call(s.tokens.carol, 'GET', `/api/v1/apply-jobs?branchId=${branch.id}`)).body.items[0], 'the job');
    await eventually(async () => (s.proxbox.control.callsTo('POST', '/intent/apply').length > 0 ? true : undefined), 'the held-up create');
    const stream = await fetch(`${s.api}/api/v1/apply-jobs/${job.id}/events`, { headers: { authorization: `Bearer ${s.tokens.carol}` } });
    expect(stream.status).toBe(200);
    const streamed = stream.text();

    // A request in flight: the plan's NetBox read is held up.
    s.netbox.control.addFault({ method: 'GET', path: '^/api/status/$', mode: 'slow', delayMs: 1_500, times: 1 });
    const planning = s.call(s.tokens.carol, 'POST', `/api/v1/branches/${branch.id}/plan`, {});
    await eventually(async () => (s.netbox.control.callsTo('GET', '/api/status/').length > 0 ? true : undefined), 'the plan in flight');

    const stopping = s.restart();
    expect(await freshConnection(s.api), 'a new connection once the stop began').toBe('ECONNREFUSED');
    const plan = await planning;
    expect(plan.status, 'the request in flight was answered in full').toBe(200);
    expect(plan.body).toMatchObject({ branch: { id: branch.id } });
    const events = await streamed;
    expect(events, 'the stream ended cleanly after what it had sent').toContain('event: plan_summary');
    await stopping;
    expect(await freshConnection(s.api)).toBe('answered 200');
  }, 60_000);
});
