import { eq } from 'drizzle-orm';
import { notificationDestinations } from '../../db/schema';
import { describe, expect, it } from 'vitest';
import { DeliveryStore, enqueueDeliveries } from '../../db/deliveries';
import { enqueueNotifications, NotificationDestinationStore } from '../../db/notifications';
import { SecretBox } from '../../domain/secret-box';
import { testNotification } from '../../domain/notifications';
import { databaseProcesses } from '../support/database';

const actor = { name: 'admin', tokenIssuers: [] };
const journal = (n: number) => ({
  channel: 'netbox_journal' as const, dedupeKey: `apply_job:j:${n}`,
  event: { type: 'job_summary' as const, jobId: 'j', branchId: 1, branchName: 'b', mergedBy: null, state: 'succeeded', error: null, counts: {} },
});

/** The outbox as several processes share it: receivers are kept apart, and the fan-out follows the subscriptions. */
describe('deliveries: one receiver down holds back only its own rows', () => {
  const processes = databaseProcesses('proxbox_delivery_receivers', 1);
  const stores = () => {
    const db = processes[0]!.db;
    return { db, deliveries: new DeliveryStore(db), destinations: new NotificationDestinationStore(db, { secrets: new SecretBox(Buffer.alloc(32, 3)), allowHttp: true }) };
  };

  it('a failed attempt for one destination does not delay NetBox or another destination of the same subject', async () => {
    const { db, deliveries, destinations } = stores();
    const make = async (name: string) => {
      const d = await destinations.create({ name, kind: 'webhook', url: `http://127.0.0.1:9/${name}`, secret: '0123456789abcdef', events: ['apply.finished'], enabled: true }, actor);
      if ('code' in d) throw new Error(d.detail);
      return d.id;
    };
    const [d1, d2] = [await make('one'), await make('two')];
    const subject = { type: 'apply_job' as const, id: 'j' };
    const event = (n: string) => testNotification(0, n, new Date());
    await db.transaction(async (tx) => {
      await enqueueDeliveries(tx, subject, [
        { channel: 'webhook', destinationId: d1, dedupeKey: 'a', event: event('a') },
        { channel: 'webhook', destinationId: d1, dedupeKey: 'b', event: event('b') },
        journal(1),
        { channel: 'webhook', destinationId: d2, dedupeKey: 'c', event: event('c') },
      ]);
    });
    const first = (await deliveries.claimNext(subject, 60_000))!;
    expect([first.channel, first.destinationId]).toEqual(['webhook', d1]);
    await deliveries.retryLater(first, 'attempt 1: unreachable', 60_000);
    // Destination one's other row waits with it; NetBox's and destination two's do not.
    const next = [(await deliveries.claimNext(subject, 60_000))!, (await deliveries.claimNext(subject, 60_000))!];
    expect(next.map((r) => [r.channel, r.destinationId])).toEqual([['netbox_journal', null], ['webhook', d2]]);
    expect(await deliveries.claimNext(subject, 60_000)).toBeUndefined();
    const rows = await deliveries.forSubject(subject);
    expect(rows.find((r) => r.dedupeKey === 'b')).toMatchObject({ attempts: 0, status: 'pending' });
  });

  it('the URL and secret are sealed at rest and sealed again under a new SECRETS_ENCRYPTION_KEY at start', async () => {
    const { db } = stores();
    // The key every store of this file seals with, then a new one.
    const [oldKey, newKey] = [Buffer.alloc(32, 3), Buffer.alloc(32, 6)];
    const before = new NotificationDestinationStore(db, { secrets: new SecretBox(oldKey), allowHttp: true });
    const made = await before.create({ name: 'rotated', kind: 'webhook', url: 'https://h.example/in?token=t0k', secret: 'rotate-me-0123456789', events: ['apply.finished'], enabled: true }, actor);
    if ('code' in made) throw new Error(made.detail);
    const [raw] = await db.select().from(notificationDestinations).where(eq(notificationDestinations.id, made.id));
    expect(`${raw!.urlSealed} ${raw!.secretSealed}`).not.toMatch(/t0k|rotate-me/);
    expect(await new NotificationDestinationStore(db, { secrets: new SecretBox(newKey, oldKey), allowHttp: true }).sealStoredSecrets()).toBeGreaterThanOrEqual(1);
    const after = new NotificationDestinationStore(db, { secrets: new SecretBox(newKey), allowHttp: true });
    expect(await after.forSending(made.id)).toMatchObject({ url: 'https://h.example/in?token=t0k', secret: 'rotate-me-0123456789' });
    expect(await after.sealStoredSecrets()).toBe(0);
  });

  it('fan-out at enqueue time: enabled destinations subscribed to the type, once per event and destination', async () => {
    const { db, deliveries, destinations } = stores();
    const on = await destinations.create({ name: 'on', kind: 'slack', url: 'https://hooks.example/x', events: ['deletion.approved'], enabled: true }, actor);
    const off = await destinations.create({ name: 'off', kind: 'slack', url: 'https://hooks.example/y', events: ['deletion.approved'], enabled: false }, actor);
    if ('code' in on || 'code' in off) throw new Error('refused');
    const subject = { type: 'deletion_request' as const, id: '77' };
    const approved = { ...testNotification(0, 'x', new Date()), id: 'deletion_request:77:deletion.approved', type: 'deletion.approved' as const };
    for (let i = 0; i < 2; i++) await db.transaction((tx) => enqueueNotifications(tx, subject, [approved]));
    const rows = await deliveries.forSubject(subject);
    expect(rows.map((r) => [r.channel, r.destinationId, r.dedupeKey])).toEqual([['slack', on.id, `deletion_request:77:deletion.approved:destination:${on.id}`]]);
    expect(await deliveries.summary('deletion_request', '77', 'notifications')).toMatchObject({ pending: 1 });
    expect(await deliveries.summary('deletion_request', '77')).toMatchObject({ pending: 0 });
  });
});
