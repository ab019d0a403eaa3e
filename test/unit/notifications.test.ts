import { describe, expect, it } from 'vitest';
import { deliveryRetryDelayMs, receiverOf } from '../../domain/deliveries';
import {
  NotificationDestinationInput, applyNotifications, approversOf, deletionNotification, deletionReminder, httpOutcome, notificationDeliveries,
  notificationUrlRefusal, reminderDue, shownUrl, signatureHeader, slackBody, testNotification, verifySignature, webhookBody,
  type ClosedJobFacts, type DeletionNotificationFacts, type NotificationEvent, type ResultFacts, type ResultsSummary,
} from '../../domain/notifications';

const at = new Date('2026-12-07T10:00:00Z');
const request: DeletionNotificationFacts = {
  id: 12, state: 'pending', branchId: 42, branchName: 'retire-web', vmid: 301, name: 'web-01', kind: 'qemu', node: 'pve01',
  requestedBy: 'alice', authorizer: null, reason: null, reasonCode: null, expiresAt: new Date('2026-12-14T10:00:00Z'),
};
const job: ClosedJobFacts = { id: 'job-1', branchId: 42, branchName: 'add-web', username: 'alice', state: 'partial', error: null, drift: {} };
const links = { publicUrl: 'https://intent.example/' };
/** What the job store hands over: counts per status, and the results (the domain picks those needing attention). */
const summary = (rs: readonly ResultFacts[]): ResultsSummary => ({
  counts: rs.reduce<Record<string, number>>((c, r) => ({ ...c, [r.status]: (c[r.status] ?? 0) + 1 }), {}), attention: rs,
});

describe('deletion events', () => {
  it('one event per state a request moves into, named for receivers, none for executing', () => {
    const types = ['pending', 'approved', 'rejected', 'expired', 'succeeded', 'failed', 'executing']
      .map((state) => deletionNotification({ ...request, state, authorizer: 'bob' }, { actor: null, approvers: ['bob'], at })?.type ?? null);
    expect(types).toEqual(['deletion.awaiting_approval', 'deletion.approved', 'deletion.rejected', 'deletion.expired', 'deletion.executed', 'deletion.failed', null]);
  });

  it('awaiting approval names who may approve and when it expires; the id is stable per request and type', () => {
    const e = deletionNotification(request, { actor: null, approvers: ['bob', 'dora'], at })!;
    expect(e.id).toBe('deletion_request:12:deletion.awaiting_approval');
    expect(e.deletion).toMatchObject({ approvers: ['bob', 'dora'], expiresAt: '2026-12-14T10:00:00.000Z', actor: 'alice', requestedBy: 'alice' });
    const approved = deletionNotification({ ...request, state: 'approved', authorizer: 'bob' }, { actor: null, approvers: [], at })!;
    expect(approved.deletion!.actor).toBe('bob');
    expect(approved.deletion!.approvers).toBeUndefined();
  });

  it('approvers: holders other than the requester, unless self-approval is allowed', () => {
    expect(approversOf(['bob', 'alice', 'bob', 'dora'], 'alice', false)).toEqual(['bob', 'dora']);
    expect(approversOf(['bob', 'alice'], 'alice', true)).toEqual(['alice', 'bob']);
  });

  it('the reminder is due inside the lead time, once the request is older than the lead, and never after expiry', () => {
    const row = { state: 'pending', requestedAt: new Date('2026-12-07T10:00:00Z'), expiresAt: new Date('2026-12-14T10:00:00Z') };
    expect(reminderDue(row, 24, new Date('2026-12-13T09:59:00Z'))).toBe(false);
    expect(reminderDue(row, 24, new Date('2026-12-13T10:00:00Z'))).toBe(true);
    expect(reminderDue(row, 24, new Date('2026-12-14T10:00:00Z'))).toBe(false);
    expect(reminderDue({ ...row, state: 'approved' }, 24, new Date('2026-12-13T12:00:00Z'))).toBe(false);
    // A request that lives shorter than the lead time was announced with its expiry: no reminder.
    expect(reminderDue({ ...row, requestedAt: new Date('2026-12-13T11:00:00Z') }, 24, new Date('2026-12-13T12:00:00Z'))).toBe(false);
    expect(deletionReminder(request, ['bob'], at)).toMatchObject({ id: 'deletion_request:12:deletion.expiring_soon', type: 'deletion.expiring_soon' });
  });
});

describe('apply events', () => {
  const results = [
    { key: 'vm-1', vmid: 301, name: 'web-01', status: 'succeeded', reason: null },
    { key: 'vm-2', vmid: 302, name: 'web-02', status: 'unknown', reason: 'task_deadline' },
    { key: 'vm-3', vmid: 303, name: 'web-03', status: 'failed', reason: 'password=hunter2 refused' },
  ];

  it('always finished with counts; drift by field name only; an operator needed for unknown outcomes', () => {
    const drift = { 'vm-1': { vmid: 301, fields: [{ field: 'cores', desired: '2', actual: '4' }, { field: 'cipassword', desired: 's3cret', actual: 'x' }] } };
    const events = applyNotifications({ ...job, drift }, summary(results), { cancelled: false, at });
    expect(events.map((e) => e.type)).toEqual(['apply.finished', 'apply.drift_found', 'apply.needs_operator']);
    expect(events[0]!.apply!.counts).toEqual({ succeeded: 1, unknown: 1, failed: 1 });
    expect(events[1]!.apply!.drift).toEqual([{ key: 'vm-1', vmid: 301, fields: ['cores', 'cipassword'], unverified: false }]);
    expect(events[2]!.apply!.attention!.map((a) => a.status)).toEqual(['unknown', 'failed']);
    const all = JSON.stringify(events);
    expect(all).not.toContain('s3cret');
    expect(all).not.toContain('hunter2');
  });

  it('a clean job is only finished; a job failed as a whole needs an operator, a cancelled one does not', () => {
    expect(applyNotifications({ ...job, state: 'succeeded' }, summary(results.slice(0, 1)), { cancelled: false, at }).map((e) => e.type)).toEqual(['apply.finished']);
    expect(applyNotifications({ ...job, state: 'failed', error: 'run failed' }, summary([]), { cancelled: false, at }).map((e) => e.type))
      .toEqual(['apply.finished', 'apply.needs_operator']);
    expect(applyNotifications({ ...job, state: 'failed' }, summary([]), { cancelled: true, at }).map((e) => e.type)).toEqual(['apply.finished']);
    expect(applyNotifications({ ...job, state: 'succeeded' }, summary([{ ...results[0]!, status: 'blocked' }]), { cancelled: false, at }).map((e) => e.type))
      .toEqual(['apply.finished', 'apply.needs_operator']);
  });
});

describe('subscriptions', () => {
  it('one row per enabled destination subscribed to the type, keyed by event and destination', () => {
    const events = applyNotifications({ ...job, state: 'failed' }, summary([]), { cancelled: false, at });
    const rows = notificationDeliveries(events, [
      { id: 1, kind: 'webhook', events: ['apply.finished', 'apply.needs_operator'], enabled: true },
      { id: 2, kind: 'slack', events: ['apply.needs_operator'], enabled: true },
      { id: 3, kind: 'webhook', events: ['apply.finished'], enabled: false },
      { id: 4, kind: 'webhook', events: ['deletion.approved'], enabled: true },
    ]);
    expect(rows.map((r) => [r.dedupeKey, r.channel])).toEqual([
      ['apply_job:job-1:apply.finished:destination:1', 'webhook'],
      ['apply_job:job-1:apply.needs_operator:destination:1', 'webhook'],
      ['apply_job:job-1:apply.needs_operator:destination:2', 'slack'],
    ]);
  });

  it('NetBox is one receiver for both of its channels; each destination is its own', () => {
    expect(receiverOf({ channel: 'netbox_journal', destinationId: null })).toBe(receiverOf({ channel: 'netbox_stamp', destinationId: null }));
    expect(receiverOf({ channel: 'webhook', destinationId: 1 })).not.toBe(receiverOf({ channel: 'webhook', destinationId: 2 }));
    expect(receiverOf({ channel: 'webhook', destinationId: 1 })).not.toBe(receiverOf({ channel: 'netbox_journal', destinationId: null }));
  });
});

describe('bodies', () => {
  const event = deletionNotification({ ...request, name: '<!channel> web', reason: 'token=abc123 leaked' , state: 'rejected', authorizer: 'bob' },
    { actor: null, approvers: [], at })!;

  it('the webhook body: id, type, time, subject, the safe facts and links', () => {
    const body = JSON.parse(webhookBody(event, links)) as Record<string, any>;
    expect(body).toMatchObject({
      id: 'deletion_request:12:deletion.rejected', type: 'deletion.rejected', occurredAt: at.toISOString(), subject: { type: 'deletion_request', id: '12' },
      data: { requestId: 12, vmid: 301, actor: 'bob', reason: 'token=[redacted] leaked' },
      links: { ui: 'https://intent.example/ui/deletion-requests/12', api: '/api/v1/deletion-requests/12' },
    });
  });

  it('Slack: one text, names escaped so they cannot mention or link', () => {
    const body = JSON.parse(slackBody(event, links)) as { text: string };
    expect(Object.keys(body)).toEqual(['text']);
    expect(body.text).toContain('*Deletion rejected*: qemu 301 &lt;!channel&gt; web on pve01');
    expect(body.text).toContain('<https://intent.example/ui/deletion-requests/12|details>');
    expect(body.text).not.toContain('abc123');
    const waiting = JSON.parse(slackBody(deletionNotification(request, { actor: null, approvers: ['bob'], at })!, { publicUrl: null })) as { text: string };
    expect(waiting.text).toContain('may approve: bob; expires 2026-12-14T10:00:00.000Z');
    expect(waiting.text).toContain('(/api/v1/deletion-requests/12)');
    const test: NotificationEvent = testNotification(3, 'n1', at);
    expect(JSON.parse(slackBody(test, links)).text).toContain('test notification');
  });
});

describe('signature', () => {
  const body = webhookBody(testNotification(1, 'n', at), links);
  const now = 1_765_000_000;

  it('t=<seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">: verifies with the secret, not with another, not when stale or altered', () => {
    const header = signatureHeader('s3cret-0123456789', now, body);
    expect(header).toMatch(/^t=1765000000,v1=[0-9a-f]{64}$/);
    expect(verifySignature('s3cret-0123456789', header, body, now + 10)).toBe(true);
    expect(verifySignature('another-secret-012', header, body, now)).toBe(false);
    expect(verifySignature('s3cret-0123456789', header, `${body} `, now)).toBe(false);
    expect(verifySignature('s3cret-0123456789', header, body, now + 301)).toBe(false);
    expect(verifySignature('s3cret-0123456789', 'garbage', body, now)).toBe(false);
    expect(verifySignature('s3cret-0123456789', null, body, now)).toBe(false);
  });
});

describe('sending rules', () => {
  it('2xx delivered; 408, 429 and 5xx retried; redirects and other 4xx are not', () => {
    expect([200, 204, 302, 400, 401, 404, 408, 429, 500, 503].map(httpOutcome))
      .toEqual(['delivered', 'delivered', 'permanent', 'permanent', 'permanent', 'permanent', 'retry', 'retry', 'retry', 'retry']);
  });

  it('retries back off from 5 s, doubling, up to 10 minutes', () => {
    expect([1, 2, 3, 4, 8, 20].map(deliveryRetryDelayMs)).toEqual([5_000, 10_000, 20_000, 40_000, 600_000, 600_000]);
  });

  it('URLs: https unless allowed, no credentials, no fragment; what is shown hides a query and a Slack path', () => {
    expect(notificationUrlRefusal('https://hooks.example/x', { allowHttp: false })).toBeNull();
    expect(notificationUrlRefusal('http://hooks.example/x', { allowHttp: false })).toContain('NOTIFICATIONS_ALLOW_HTTP');
    expect(notificationUrlRefusal('http://hooks.example/x', { allowHttp: true })).toBeNull();
    expect(notificationUrlRefusal('https://u:p@hooks.example/x', { allowHttp: false })).toContain('user name');
    expect(notificationUrlRefusal('ftp://hooks.example/x', { allowHttp: true })).toContain('https');
    expect(notificationUrlRefusal('not a url', { allowHttp: true })).toContain('not a valid URL');
    expect(shownUrl('webhook', 'https://hooks.example/in?token=abc')).toBe('https://hooks.example/in?…');
    expect(shownUrl('slack', 'https://hooks.slack.com/services/T0/B0/XYZ')).toBe('https://hooks.slack.com/…');
  });

  it('a webhook needs a secret, a Slack destination takes none; events are known names', () => {
    const base = { name: 'ops', url: 'https://h.example/x', events: ['apply.finished'] };
    expect(NotificationDestinationInput.safeParse({ ...base, kind: 'webhook' }).success).toBe(false);
    expect(NotificationDestinationInput.safeParse({ ...base, kind: 'webhook', secret: '0123456789abcdef' }).success).toBe(true);
    expect(NotificationDestinationInput.safeParse({ ...base, kind: 'slack', secret: '0123456789abcdef' }).success).toBe(false);
    expect(NotificationDestinationInput.safeParse({ ...base, kind: 'slack', events: ['apply.exploded'] }).success).toBe(false);
  });
});
