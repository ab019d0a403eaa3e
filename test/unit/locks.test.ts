import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inProcessLocks, postgresLocks } from '../../db/locks';
import { createFreshDatabase } from '../support/database';
import { eventually } from '../support/eventually';

describe('write locks on PostgreSQL', () => {
  let db: Awaited<ReturnType<typeof createFreshDatabase>>;
  const clients: postgres.Sql[] = [];
  const process = () => {
    const sql = postgres(db.url, { max: 3, onnotice: () => {} });
    clients.push(sql);
    return { sql, locks: postgresLocks(sql) };
  };
  beforeAll(async () => { db = await createFreshDatabase('proxbox_locks'); });
  afterAll(async () => {
    for (const c of clients) await c.end({ timeout: 1 });
    await db.drop();
  });

  it('excludes a second process until the first releases', async () => {
    const a = process(), b = process();
    const lease = await a.locks.tryAcquire(['vmid:1:312', 'node:1:pve01:0']);
    expect(lease).not.toBeNull();
    expect(await b.locks.tryAcquire(['vmid:1:312', 'node:1:pve01:1'])).toBeNull();
    const other = await b.locks.tryAcquire(['vmid:1:313', 'node:1:pve01:1']);
    expect(other, 'another VMID on another node slot is free').not.toBeNull();
    await lease!.release();
    const after = await b.locks.tryAcquire(['vmid:1:312', 'node:1:pve01:0']);
    expect(after).not.toBeNull();
    await after!.release();
    await other!.release();
  });

  it('takes all keys or none, and lets one of two concurrent callers of one process win', async () => {
    const a = process(), b = process();
    const slot = await b.locks.tryAcquire(['node:1:pve02:0']);
    expect(await a.locks.tryAcquire(['vmid:1:400', 'node:1:pve02:0'])).toBeNull();
    const free = await b.locks.tryAcquire(['vmid:1:400']);
    expect(free, 'the VMID taken by the failed attempt was given back').not.toBeNull();
    await free!.release();
    await slot!.release();
    const both = await Promise.all([a.locks.tryAcquire(['vmid:1:401']), a.locks.tryAcquire(['vmid:1:401'])]);
    expect(both.filter(Boolean)).toHaveLength(1);
    await both.find(Boolean)!.release();
  });

  it('decides each of many concurrent grabs on its own when they share a round trip', async () => {
    const a = process(), b = process();
    const busy = await b.locks.tryAcquire(['node:1:pve03:0']);
    // Same tick: one batch. The second grab fails on the slot b holds and must give its VMID back.
    const [first, second, third] = await Promise.all([
      a.locks.tryAcquire(['vmid:1:600', 'node:1:pve03:1']),
      a.locks.tryAcquire(['vmid:1:601', 'node:1:pve03:0']),
      a.locks.tryAcquire(['vmid:1:602', 'node:1:pve03:2']),
    ]);
    expect([first !== null, second !== null, third !== null]).toEqual([true, false, true]);
    const vmid601 = await b.locks.tryAcquire(['vmid:1:601']);
    expect(vmid601, 'the VMID of the failed grab was given back').not.toBeNull();
    expect(await b.locks.tryAcquire(['vmid:1:600']), 'the winners keep theirs').toBeNull();
    await Promise.all([first!.release(), third!.release(), vmid601!.release(), busy!.release()]);
    const again = await b.locks.tryAcquire(['vmid:1:600', 'vmid:1:602']);
    expect(again, 'releases that shared a round trip all took effect').not.toBeNull();
    await again!.release();
  });

  it('releases everything when the holding process goes away', async () => {
    const a = process(), b = process();
    expect(await a.locks.tryAcquire(['vmid:1:500'])).not.toBeNull();
    expect(await b.locks.tryAcquire(['vmid:1:500'])).toBeNull();
    await a.sql.end({ timeout: 1 });
    // PostgreSQL frees a session's locks once its backend notices the disconnect, a moment later.
    const lease = await eventually(() => b.locks.tryAcquire(['vmid:1:500']).then((l) => l ?? undefined), 'the lock of the departed process');
    expect(lease).not.toBeNull();
    await lease!.release();
  });
});

describe('write locks in one process (embedded database)', () => {
  it('excludes a held key and frees it on release', async () => {
    const locks = inProcessLocks();
    const lease = await locks.tryAcquire(['a', 'b']);
    expect(await locks.tryAcquire(['b'])).toBeNull();
    await lease!.release();
    expect(await locks.tryAcquire(['b'])).not.toBeNull();
  });
});
