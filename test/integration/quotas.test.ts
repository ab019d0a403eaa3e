import { describe, expect, it } from 'vitest';
import { QuotaStore, retryAfterS } from '../../db/quotas';
import { databaseProcesses } from '../support/database';

/** Several API processes are several connection pools on one database: each "process" here has its own. */
describe('quotas in PostgreSQL, shared by every API process', () => {
  const processes = databaseProcesses('proxbox_quotas');
  const stores = () => processes.map((p) => new QuotaStore(p.db));

  it('never lets concurrent takers in several processes exceed the limit together', async () => {
    const rule = { limit: 7, ttlMs: 60_000 };
    const all = stores();
    const answers = await Promise.all(Array.from({ length: 30 }, (_, i) => all[i % 3]!.take('race', rule)));
    expect(answers.filter((a) => a.ok)).toHaveLength(7);
    for (const refused of answers.filter((a) => !a.ok)) expect(refused).toEqual({ ok: false, retryAfterS: 60 });
  });

  it('counts weights, refuses what cannot fit and takes what still fits', async () => {
    const [a, b] = stores();
    const rule = { limit: 10, ttlMs: 60_000 };
    expect((await a!.take('weights', rule, 6)).ok).toBe(true);
    expect((await b!.take('weights', rule, 5)).ok).toBe(false);
    expect((await b!.take('weights', rule, 4)).ok).toBe(true);
    expect((await a!.take('weights', rule, 11)).ok).toBe(false);
    expect((await a!.check('weights', rule)).ok).toBe(false);
    expect((await a!.check('other', rule)).ok).toBe(true);
  });

  it('gives a released lease back at once, to any process', async () => {
    const [a, b] = stores();
    const rule = { limit: 2, ttlMs: 60_000 };
    const one = await a!.take('leases', rule);
    const two = await b!.take('leases', rule);
    expect(one.ok && two.ok).toBe(true);
    expect((await a!.take('leases', rule)).ok).toBe(false);
    await b!.release('leases', (two as { id: string }).id);
    expect((await a!.take('leases', rule)).ok).toBe(true);
  });

  it('lets lapsed entries go: a lease that is not renewed no longer counts', async () => {
    const [a] = stores();
    const short = { limit: 1, ttlMs: 1 };
    expect((await a!.take('lapse', short)).ok).toBe(true);
    // A millisecond later the entry has lapsed; the database clock decides, so wait for it rather than a timer.
    await processes[0]!.db.execute('select pg_sleep(0.01)');
    expect((await a!.take('lapse', short)).ok).toBe(true);
  });

  it('computes Retry-After from the entries that must lapse first', () => {
    const rule = { limit: 3, ttlMs: 60_000 };
    const entries = [{ id: 'a', until: 10_000, w: 1 }, { id: 'b', until: 30_000, w: 1 }, { id: 'c', until: 50_000, w: 1 }];
    expect(retryAfterS(entries, 0, rule, 1)).toBe(10);
    expect(retryAfterS(entries, 0, rule, 2)).toBe(30);
    expect(retryAfterS(entries, 20_000, rule, 1)).toBe(1);
  });
});
