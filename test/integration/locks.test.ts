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

  /** A process whose lock connection fails the queries `failWhen` picks, as a cancelled statement would. */
  const faultyProcess = (failWhen: (text: string) => boolean) => {
    const { sql } = process();
    const failing = {
      reserve: async () => {
        const conn = await sql.reserve();
        return ((strings: TemplateStringsArray, ...values: unknown[]) => failWhen(strings.join('?'))
          ? Promise.reject(Object.assign(new Error('canceling statement due to user request'), { code: '57014' }))
          : (conn as unknown as (s: TemplateStringsArray, ...v: unknown[]) => Promise<unknown>)(strings, ...values)) as unknown as postgres.ReservedSql;
      },
    } as unknown as postgres.Sql;
    return postgresLocks(failing, { retryUnlockMs: 50 });
  };

  it('keeps the winners of a batch when giving back a loser\'s partial grab fails, and gives it back later', async () => {
    const b = process();
    let failGiveBack = true;
    const a = faultyProcess((text) => {
      if (!text.includes('pg_advisory_unlock') || !failGiveBack) return false;
      failGiveBack = false;
      return true;
    });
    const busy = await b.locks.tryAcquire(['node:1:pve04:0']);
    const [winner, loser] = await Promise.all([
      a.tryAcquire(['vmid:1:700', 'node:1:pve04:1']),
      a.tryAcquire(['vmid:1:701', 'node:1:pve04:0']),
    ]);
    expect(winner, 'the winner is told it won').not.toBeNull();
    expect(loser).toBeNull();
    expect(await b.locks.tryAcquire(['vmid:1:700']), 'the winner really holds its VMID').toBeNull();
    const given = await eventually(() => b.locks.tryAcquire(['vmid:1:701']).then((l) => l ?? undefined), 'the loser\'s VMID given back by the retry');
    await Promise.all([given.release(), winner!.release(), busy!.release()]);
    const after = await b.locks.tryAcquire(['vmid:1:700', 'node:1:pve04:1']);
    expect(after, 'the winner\'s release went through').not.toBeNull();
    await after!.release();
  });

  it('never throws from a release whose unlock fails: the key stays taken here until the retry frees it', async () => {
    const b = process();
    let failures = 1;
    const a = faultyProcess((text) => text.includes('pg_advisory_unlock') && failures-- > 0);
    const lease = await a.tryAcquire(['vmid:1:710']);
    await expect(lease!.release()).resolves.toBeUndefined();
    const freed = await eventually(() => b.locks.tryAcquire(['vmid:1:710']).then((l) => l ?? undefined), 'the unlock retried in the background');
    await freed.release();
    const again = await a.tryAcquire(['vmid:1:710']);
    expect(again, 'this process can take the key again once it is really free').not.toBeNull();
    await again!.release();
  });

  it('reports a failed grab to its caller and gives back whatever the failed statement may have taken', async () => {
    const b = process();
    let failures = 1;
    const a = faultyProcess((text) => text.includes('pg_try_advisory_lock') && failures-- > 0);
    await expect(a.tryAcquire(['vmid:1:720'])).rejects.toThrow('canceling statement');
    const free = await eventually(() => b.locks.tryAcquire(['vmid:1:720']).then((l) => l ?? undefined), 'the key free elsewhere');
    await free.release();
    // Until the give-back of whatever the failed statement may have taken succeeds, this process keeps off the key.
    const retried = await eventually(() => a.tryAcquire(['vmid:1:720']).then((l) => l ?? undefined), 'the key free again here');
    await retried.release();
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
