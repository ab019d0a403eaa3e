import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import postgres from 'postgres';
import { requestDeletion, settled } from '../support/deletion-requests';
import { guestBranch, mergeAndWait } from '../support/merges';
import { eventually, NETBOX_TOKEN, PROXBOX_KEY, startStack, WEBHOOK_SECRET, type Stack } from '../support/stack';
import { reconcilerScheduleId } from '../../services/reconciler-schedule';
import { verifySignature } from '../../domain/notifications';
import { deliveryWorkflowId } from '../../workflows/definitions';
import { recordHistoryIfAsked } from '../support/histories';

const PUBLIC_URL = 'https://intent.example.test';
const HOOK_SECRET = 'hook-signing-secret-0123456789';
const SLACK_PATH = '/slack/T000/B000/XXXXXXXXXXXXSECRETPATH';

interface Received { path: string; headers: IncomingMessage['headers']; raw: string; body: any; answered: number }

/** The notification receiver of these tests: records every request; can answer 500 a few times, or be down. */
class Sink {
  received: Received[] = [];
  private failures = 0;
  private failType = '';
  private server: Server | null = null;
  port = 0;

  async start(port = 0): Promise<void> {
    this.server = createServer((req: IncomingMessage, res: ServerResponse) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const raw = Buffer.concat(chunks).toString('utf8');
        const failing = req.url === '/hook' && this.failures > 0 && req.headers['x-proxbox-intent-event'] === this.failType;
        const answered = failing ? (this.failures--, 500) : 200;
        this.received.push({ path: req.url ?? '', headers: req.headers, raw, body: JSON.parse(raw), answered });
        res.writeHead(answered, { 'content-type': 'text/plain' }).end(answered === 200 ? 'ok' : 'boom');
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(port, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = null;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** The next `n` webhook requests of events of this type are answered 500. */
  failNext(n: number, type: string) { this.failures = n; this.failType = type; }
  url(path: string) { return `http://127.0.0.1:${this.port}${path}`; }
  /** Successful webhook requests for events whose id starts with `prefix`. */
  hooks(prefix: string) { return this.received.filter((r) => r.path === '/hook' && r.answered === 200 && String(r.headers['x-proxbox-intent-event-id']).startsWith(prefix)); }
  slack() { return this.received.filter((r) => r.path === SLACK_PATH); }
}

describe('notifications: signed webhooks and Slack, delivered durably apart from the work they describe', { timeout: 240_000 }, () => {
  let s: Stack;
  let sql: postgres.Sql;
  const sink = new Sink();
  let hookId = 0;
  let slackId = 0;
  let seq = 0;

  beforeAll(async () => {
    await sink.start();
    s = await startStack({ env: { PUBLIC_URL, NOTIFICATIONS_ALLOW_HTTP: 'true' } });
    sql = postgres(s.databaseUrl, { max: 2, onnotice: () => {} });
    const hook = await s.call(s.tokens.admin, 'POST', '/api/v1/notification-destinations', {
      name: 'ops-webhook', kind: 'webhook', url: sink.url('/hook'), secret: HOOK_SECRET,
      events: ['deletion.awaiting_approval', 'deletion.expiring_soon', 'deletion.approved', 'deletion.rejected', 'deletion.expired',
        'deletion.executed', 'deletion.failed', 'apply.finished', 'apply.drift_found', 'apply.needs_operator'],
    });
    expect(hook.status, JSON.stringify(hook.body)).toBe(201);
    hookId = hook.body.id;
    const slack = await s.call(s.tokens.admin, 'POST', '/api/v1/notification-destinations', {
      name: 'ops-slack', kind: 'slack', url: sink.url(SLACK_PATH), events: ['deletion.awaiting_approval'],
    });
    expect(slack.status, JSON.stringify(slack.body)).toBe(201);
    slackId = slack.body.id;
  });
  afterAll(async () => { await sql?.end(); await s?.stop(); await sink.stop(); });

  const deliveriesOf = async (id: number) => (await s.call(s.tokens.admin, 'GET', `/api/v1/notification-destinations/${id}/deliveries?limit=500`)).body.items as any[];
  const settledNotifications = (path: string, what: string) => eventually(async () => {
    const n = (await s.call(s.tokens.carol, 'GET', path)).body.notifications;
    return n && n.pending === 0 ? n : undefined;
  }, `the notifications of ${what}`, 150_000);

  it('destinations: secrets and the Slack URL are write-only, masked in the audit log; bad input changes nothing', async () => {
    const list = await s.call(s.tokens.admin, 'GET', '/api/v1/notification-destinations');
    expect(list.status).toBe(200);
    const text = JSON.stringify(list.body);
    expect(text).not.toContain(HOOK_SECRET);
    expect(text).not.toContain('SECRETPATH');
    expect(list.body.items.map((d: any) => [d.name, d.kind, d.secretSet, d.url])).toEqual([
      ['ops-webhook', 'webhook', true, sink.url('/hook')], ['ops-slack', 'slack', false, `http://127.0.0.1:${sink.port}/…`],
    ]);
    const audit = await s.call(s.tokens.admin, 'GET', '/api/v1/audit-log?action=notification_destination');
    expect(JSON.stringify(audit.body)).not.toContain(HOOK_SECRET);
    expect(JSON.stringify(audit.body)).not.toContain('SECRETPATH');
    expect(audit.body.items.find((e: any) => e.target === `notification_destination:${hookId}`).changes.secret).toEqual({ from: null, to: '(masked)' });

    expect((await s.call(s.tokens.carol, 'GET', '/api/v1/notification-destinations')).status).toBe(403);
    const refusals = await Promise.all([
      s.call(s.tokens.admin, 'POST', '/api/v1/notification-destinations', { name: 'x', kind: 'webhook', url: 'https://u:p@h.example/', secret: HOOK_SECRET, events: ['apply.finished'] }),
      s.call(s.tokens.admin, 'POST', '/api/v1/notification-destinations', { name: 'y', kind: 'webhook', url: 'https://h.example/', events: ['apply.finished'] }),
      s.call(s.tokens.admin, 'POST', '/api/v1/notification-destinations', { name: 'ops-slack', kind: 'slack', url: 'https://h.example/', events: ['apply.finished'] }),
    ]);
    expect(refusals.map((r) => [r.status, r.body.code])).toEqual([[422, 'url_refused'], [422, 'validation_failed'], [409, 'name_taken']]);
    expect((await s.call(s.tokens.admin, 'GET', '/api/v1/notification-destinations')).body.items).toHaveLength(2);

    // A change: the new secret is audited as changed, never shown; a Slack destination takes no secret.
    const spare = (await s.call(s.tokens.admin, 'POST', '/api/v1/notification-destinations',
      { name: 'spare', kind: 'webhook', url: 'https://h.example/in?token=abc', secret: 'first-secret-0123456789', events: ['apply.finished'], enabled: false })).body;
    expect(spare).toMatchObject({ url: 'https://h.example/in?…', enabled: false, secretSet: true });
    const changed = await s.call(s.tokens.admin, 'PATCH', `/api/v1/notification-destinations/${spare.id}`,
      { name: 'spare-2', secret: 'second-secret-0123456789', events: ['apply.finished', 'apply.drift_found'] });
    expect(changed.status).toBe(200);
    expect(changed.body).toMatchObject({ name: 'spare-2', events: ['apply.drift_found', 'apply.finished'] });
    expect((await s.call(s.tokens.admin, 'PATCH', `/api/v1/notification-destinations/${slackId}`, { secret: 'x'.repeat(20) })).status).toBe(422);
    expect((await s.call(s.tokens.admin, 'PATCH', `/api/v1/notification-destinations/${spare.id}`, { name: 'ops-slack' })).status).toBe(409);
    const updates = (await s.call(s.tokens.admin, 'GET', '/api/v1/audit-log?action=notification_destination.update')).body.items;
    expect(updates[0].changes).toMatchObject({ name: { from: 'spare', to: 'spare-2' }, secret: { from: '(masked)', to: '(masked)' } });
    expect(JSON.stringify(updates)).not.toMatch(/first-secret|second-secret|token=abc/);
    expect((await s.call(s.tokens.admin, 'DELETE', `/api/v1/notification-destinations/${spare.id}`)).status).toBe(204);
  });

  it('an apply: exactly its events to the webhook, signed, each delivery recorded and shown on the job', async () => {
    seq += 1;
    const { branch } = guestBranch(s, `nt-${seq}`, 5100 + seq, { vmName: `nt-${seq}` });
    const job = await mergeAndWait(s, branch.id);
    expect(job.state).toBe('succeeded');
    expect(await settledNotifications(`/api/v1/apply-jobs/${job.id}`, `job ${job.id}`)).toEqual({ pending: 0, delivered: 1, failed: 0, skipped: 0, lastError: null });
    const got = sink.hooks(`apply_job:${job.id}:`);
    expect(got.map((r) => r.body.type)).toEqual(['apply.finished']);
    const [finished] = got;
    expect(finished!.body).toMatchObject({
      id: `apply_job:${job.id}:apply.finished`, type: 'apply.finished', subject: { type: 'apply_job', id: job.id },
      data: { jobId: job.id, branchName: branch.name, state: 'succeeded', counts: { succeeded: 1 }, cancelled: false },
      links: { ui: `${PUBLIC_URL}/ui/apply-jobs/${job.id}`, api: `/api/v1/apply-jobs/${job.id}` },
    });
    expect(finished!.headers['x-proxbox-intent-event']).toBe('apply.finished');
    const signature = String(finished!.headers['x-proxbox-intent-signature']);
    const sentAt = Number(/t=(\d+)/.exec(signature)![1]);
    expect(verifySignature(HOOK_SECRET, signature, finished!.raw, sentAt)).toBe(true);
    expect(verifySignature('some-other-secret-0123', signature, finished!.raw, sentAt)).toBe(false);
    // The Slack destination wants deletions only.
    expect(sink.slack().filter((r) => String(r.raw).includes(job.id))).toEqual([]);
    const records = (await deliveriesOf(hookId)).filter((d) => d.subject.id === job.id);
    expect(records.map((d) => [d.event, d.status, d.attempts, d.lastError, d.channel])).toEqual([['apply.finished', 'delivered', 1, null, 'webhook']]);
  });

  it('a failed job: finished and needs-operator, with the results to look at', async () => {
    seq += 1;
    const vmid = 5100 + seq;
    const { branch } = guestBranch(s, `nt-${seq}`, vmid, { vmName: `nt-${seq}` });
    s.proxbox.cluster.addGuest({ endpointId: 1, vmid, node: 'pve01', type: 'qemu', name: 'someone-else', status: 'stopped', cores: 1, memory: 512 });
    const job = await mergeAndWait(s, branch.id);
    expect(job.state).toBe('failed');
    await settledNotifications(`/api/v1/apply-jobs/${job.id}`, `job ${job.id}`);
    const got = sink.hooks(`apply_job:${job.id}:`);
    expect(got.map((r) => r.body.type).sort()).toEqual(['apply.finished', 'apply.needs_operator']);
    const needs = got.find((r) => r.body.type === 'apply.needs_operator')!;
    expect(needs.body.data.attention).toEqual([expect.objectContaining({ vmid, name: `nt-${seq}` })]);
  });

  it('a deletion: awaiting approval (who may approve, until when) after a 500 and its retry, then approved and executed; Slack gets its one', async () => {
    seq += 1;
    sink.failNext(1, 'deletion.awaiting_approval');
    const { request } = await requestDeletion(s, { vmid: 5200 + seq, name: `nt-del-${seq}`, node: 'pve01', kind: 'qemu' });
    const prefix = `deletion_request:${request.id}:`;
    const awaiting = await eventually(async () => sink.hooks(`${prefix}deletion.awaiting_approval`)[0], 'the awaiting-approval webhook after its retry', 90_000);
    expect(awaiting.body.data).toMatchObject({ requestId: request.id, vmid: request.vmid, requestedBy: 'alice', approvers: ['bob'], expiresAt: request.expiresAt });
    const first = await eventually(async () => (await deliveriesOf(hookId)).find((d) => d.eventId === `${prefix}deletion.awaiting_approval` && d.status === 'delivered'), 'its record');
    expect(first).toMatchObject({ attempts: 2, lastError: 'attempt 1: HTTP 500', status: 'delivered' });
    // The 500 and the retry carry the same event id, each with a signature of its own attempt.
    const attempts = sink.received.filter((r) => r.headers['x-proxbox-intent-event-id'] === `${prefix}deletion.awaiting_approval`);
    expect(attempts.map((r) => r.answered)).toEqual([500, 200]);

    expect((await s.call(s.tokens.bob, 'POST', `/api/v1/deletion-requests/${request.id}/approve`, { vmid: request.vmid })).status).toBe(200);
    expect((await settled(s, request.id)).state).toBe('succeeded');
    expect(await settledNotifications(`/api/v1/deletion-requests/${request.id}`, `request ${request.id}`))
      .toEqual({ pending: 0, delivered: 4, failed: 0, skipped: 0, lastError: null });
    expect(sink.hooks(prefix).map((r) => r.body.type)).toEqual(['deletion.awaiting_approval', 'deletion.approved', 'deletion.executed']);
    expect(sink.hooks(`${prefix}deletion.approved`)[0]!.body.data.actor).toBe('bob');
    const slack = sink.slack().filter((r) => r.body.text.includes(`deletion-requests/${request.id}|`));
    expect(slack).toHaveLength(1);
    expect(slack[0]!.body.text).toContain('may approve: bob');
    expect(slack[0]!.headers['x-proxbox-intent-signature']).toBeUndefined();
  });

  it('the receiver down: the deletion proceeds undelayed, NetBox is written at once, and the notifications arrive once it is back', async () => {
    seq += 1;
    await sink.stop();
    const { request } = await requestDeletion(s, { vmid: 5300 + seq, name: `nt-down-${seq}`, node: 'pve01', kind: 'qemu' });
    expect((await s.call(s.tokens.bob, 'POST', `/api/v1/deletion-requests/${request.id}/approve`, { vmid: request.vmid })).status).toBe(200);
    expect((await settled(s, request.id)).state).toBe('succeeded');
    // NetBox hears about it on time although the destinations of the same request are down.
    const netbox = await eventually(async () => {
      const w = (await s.call(s.tokens.carol, 'GET', `/api/v1/deletion-requests/${request.id}`)).body.netboxWriteback;
      return w.pending === 0 ? w : undefined;
    }, 'the NetBox write-back while the receiver is down', 60_000);
    expect(netbox).toMatchObject({ delivered: 3, failed: 0 });
    const waiting = await eventually(async () => {
      const n = (await s.call(s.tokens.carol, 'GET', `/api/v1/deletion-requests/${request.id}`)).body.notifications;
      return n.pending === 4 && n.lastError ? n : undefined;
    }, 'the failed attempts recorded');
    expect(waiting.lastError).toMatch(/unreachable/);
    expect(sink.hooks(`deletion_request:${request.id}:`)).toEqual([]);

    await sink.start(sink.port);
    expect(await settledNotifications(`/api/v1/deletion-requests/${request.id}`, `request ${request.id}`)).toMatchObject({ pending: 0, delivered: 4, failed: 0 });
    expect(sink.hooks(`deletion_request:${request.id}:`).map((r) => r.body.type).sort())
      .toEqual(['deletion.approved', 'deletion.awaiting_approval', 'deletion.executed']);
    const records = (await deliveriesOf(hookId)).filter((d) => d.subject.id === String(request.id));
    expect(records).toHaveLength(3);
    expect(records.every((d) => d.status === 'delivered' && d.attempts >= 2 && /unreachable/.test(d.lastError))).toBe(true);
    // Its DeliveryWorkflow ends once nothing is pending: rounds, waits for the backoff, wake-ups (a replay history).
    const workflowId = deliveryWorkflowId(s.taskQueue, { type: 'deletion_request', id: String(request.id) });
    expect(await s.system.temporal.workflow.getHandle(workflowId).result()).toMatchObject({ nextInMs: null });
    await recordHistoryIfAsked(s.system.temporal, workflowId, 'deliveries-receiver-down');
  });

  it('the reminder before expiry: sent once by the reconciler\'s sweep, whichever process runs it', async () => {
    seq += 1;
    const { request } = await requestDeletion(s, { vmid: 5400 + seq, name: `nt-remind-${seq}`, node: 'pve01', kind: 'qemu' });
    // Requested eight days ago, expiring in an hour: inside the 24 h lead time.
    await sql`update deletion_requests set requested_at = now() - interval '8 days', expires_at = now() + interval '1 hour' where id = ${request.id}`;
    const schedule = s.system.temporal.schedule.getHandle(reconcilerScheduleId(s.taskQueue));
    await schedule.trigger();
    const reminder = await eventually(async () => sink.hooks(`deletion_request:${request.id}:deletion.expiring_soon`)[0], 'the reminder', 90_000);
    expect(reminder.body.data).toMatchObject({ requestId: request.id, approvers: ['bob'] });
    await schedule.trigger();
    await eventually(async () => {
      const runs = await sql`select count(*)::int as n from deliveries where subject_id = ${String(request.id)} and status = 'pending'`;
      return runs[0]!.n === 0 ? true : undefined;
    }, 'nothing pending');
    const rows = await sql`select dedupe_key from deliveries where dedupe_key like ${`deletion_request:${request.id}:deletion.expiring_soon%`}`;
    expect(rows).toHaveLength(1);
    expect(sink.hooks(`deletion_request:${request.id}:deletion.expiring_soon`)).toHaveLength(1);
  });

  it('a test event on demand; no secret in any body; removing a destination skips what it had pending', async () => {
    const sent = await s.call(s.tokens.admin, 'POST', `/api/v1/notification-destinations/${slackId}/test`);
    expect(sent.status).toBe(202);
    await eventually(async () => (sink.slack().some((r) => r.body.text.includes('test notification')) ? true : undefined), 'the test message');
    const secrets = [HOOK_SECRET, 'SECRETPATH', PROXBOX_KEY, NETBOX_TOKEN, WEBHOOK_SECRET, 'e2e-approval-signing-secret-0123'];
    for (const r of sink.received) for (const secret of secrets) expect(r.raw).not.toContain(secret);

    await sink.stop();
    const stuck = await s.call(s.tokens.admin, 'POST', `/api/v1/notification-destinations/${hookId}/test`);
    await eventually(async () => ((await deliveriesOf(hookId)).find((d) => d.eventId === stuck.body.eventId && d.lastError) ? true : undefined), 'a failed attempt');
    expect((await s.call(s.tokens.admin, 'DELETE', `/api/v1/notification-destinations/${hookId}`)).status).toBe(204);
    const [row] = await sql`select status, receipt from deliveries where event->>'id' = ${stuck.body.eventId}`;
    expect(row).toMatchObject({ status: 'skipped', receipt: 'the destination was removed' });
    expect((await s.call(s.tokens.admin, 'GET', `/api/v1/notification-destinations/${hookId}`)).status).toBe(404);
    await sink.start(sink.port);
  });
});
