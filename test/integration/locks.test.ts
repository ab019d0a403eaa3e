import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import postgres from 'postgres';
import type { SQL } from 'drizzle-orm';
import { PgDialect } from 'drizzle-orm/pg-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, type Database, type Db } from '../../db/client';
import { leasedLocks, type LeaseOptions, type LockLease, type WriteLocks } from '../../db/locks';
import { createFreshDatabase } from '../support/database';
import { eventually } from '../support/eventually';

const dialect = new PgDialect();
const taken = (lease: LockLease | null) => lease ?? undefined;

describe('write leases on PostgreSQL', () => {
  let fresh: Awaited<ReturnType<typeof createFreshDatabase>>;
  let admin: postgres.Sql;
  const opened: Database[] = [];
  /** One service process: its own connection pool and its own locks. */
  const process = async (leases: LeaseOptions = {}) => {
    const database = await openDatabase({ url: fresh.url, maxConnections: 3, leases });
    opened.push(database);
    return database;
  };
  /** The locks of a process whose statements fail when `failWhen` picks them: `before` they run, or `after` (committed, answer lost). */
  const faulty = (database: Database, failWhen: (text: string) => 'before' | 'after' | false, opts: LeaseOptions = {}): WriteLocks => {
    const db = new Proxy(database.db, {
      get(target, prop, receiver) {
        if (prop !== 'execute') return Reflect.get(target, prop, receiver) as unknown;
        return async (query: SQL) => {
          const when = failWhen(dialect.sqlToQuery(query).sql);
          const fail = () => Promise.reject(Object.assign(new Error('canceling statement due to user request'), { code: '57014' }));
          if (when === 'before') return fail();
          const result: unknown = await target.execute(query);
          return when === 'after' ? fail() : result;
        };
      },
    }) as Db;
    return leasedLocks(db, { retryReleaseMs: 50, ...opts });
  };
  const holderOf = async (key: string) =>
    (await admin<{ holder: string }[]>`select holder from write_leases where key = ${key}`)[0]?.holder ?? null;

  beforeAll(async () => {
    fresh = await createFreshDatabase('proxbox_locks');
    admin = postgres(fresh.url, { max: 1, onnotice: () => {} });
  });
  afterAll(async () => {
    for (const d of opened) await d.close().catch(() => {});
    await admin.end({ timeout: 1 });
    await fresh.drop();
  });

  it('excludes another holder until the first releases', async () => {
    const a = await process(), b = await process();
    const lease = await a.locks.tryAcquire(['vmid:1:312', 'node:1:pve01:0'], 'job-a:312');
    expect(lease).not.toBeNull();
    expect(await b.locks.tryAcquire(['vmid:1:312', 'node:1:pve01:1'], 'job-b:312')).toBeNull();
    expect(await a.locks.tryAcquire(['vmid:1:312', 'node:1:pve01:1'], 'job-c:312'), 'another holder of the same process too').toBeNull();
    const other = await b.locks.tryAcquire(['vmid:1:313', 'node:1:pve01:1'], 'job-b:313');
    expect(other, 'another VMID on another node slot is free').not.toBeNull();
    await lease!.release();
    expect(await holderOf('vmid:1:312'), 'a released key is free').toBeNull();
    const after = await b.locks.tryAcquire(['vmid:1:312', 'node:1:pve01:0'], 'job-b:312');
    expect(after).not.toBeNull();
    await after!.release();
    await other!.release();
  });

  it('takes all keys or none, and lets one of two concurrent holders of one process win', async () => {
    const a = await process(), b = await process();
    const slot = await b.locks.tryAcquire(['node:1:pve02:0'], 'job-b:1');
    expect(await a.locks.tryAcquire(['vmid:1:400', 'node:1:pve02:0'], 'job-a:400')).toBeNull();
    expect(await holderOf('vmid:1:400'), 'the refused grab took nothing').toBeNull();
    const free = await b.locks.tryAcquire(['vmid:1:400'], 'job-b:400');
    expect(free).not.toBeNull();
    await free!.release();
    await slot!.release();
    const both = await Promise.all([a.locks.tryAcquire(['vmid:1:401'], 'job-x'), a.locks.tryAcquire(['vmid:1:401'], 'job-y')]);
    expect(both.filter(Boolean)).toHaveLength(1);
    await both.find(Boolean)!.release();
  });

  it('decides each of many concurrent grabs on its own when they share a round trip', async () => {
    const a = await process(), b = await process();
    const busy = await b.locks.tryAcquire(['node:1:pve03:0'], 'job-b:busy');
    // Same tick: one batch. The second grab fails on the slot b holds and must take nothing.
    const [first, second, third] = await Promise.all([
      a.locks.tryAcquire(['vmid:1:600', 'node:1:pve03:1'], 'job-a:600'),
      a.locks.tryAcquire(['vmid:1:601', 'node:1:pve03:0'], 'job-a:601'),
      a.locks.tryAcquire(['vmid:1:602', 'node:1:pve03:2'], 'job-a:602'),
    ]);
    expect([first !== null, second !== null, third !== null]).toEqual([true, false, true]);
    const vmid601 = await b.locks.tryAcquire(['vmid:1:601'], 'job-b:601');
    expect(vmid601, 'the VMID of the failed grab stayed free').not.toBeNull();
    expect(await b.locks.tryAcquire(['vmid:1:600'], 'job-b:600'), 'the winners keep theirs').toBeNull();
    await Promise.all([first!.release(), third!.release(), vmid601!.release(), busy!.release()]);
    const again = await b.locks.tryAcquire(['vmid:1:600', 'vmid:1:602'], 'job-b:again');
    expect(again, 'releases that shared a round trip all took effect').not.toBeNull();
    await again!.release();
  });

  it('gives a key asked for by two holders in one statement to neither but the first', async () => {
    await process(); // migrated
    // Two processes' worth of grabs in one call cannot come from leasedLocks (it refuses locally): ask the function itself.
    const rows = await admin<{ grab: number; won: boolean }[]>`select grab, won from write_lease_claim(${admin.json([
      { g: 0, k: 'vmid:1:650', h: 'job-p', c: 'c1' }, { g: 1, k: 'vmid:1:650', h: 'job-q', c: 'c2' }, { g: 1, k: 'vmid:1:651', h: 'job-q', c: 'c2' },
    ])}::json, 60000) order by grab`;
    expect(rows.map((r) => r.won)).toEqual([true, false]);
    expect(await holderOf('vmid:1:650')).toBe('job-p');
    expect(await holderOf('vmid:1:651'), 'all or none').toBeNull();
    await admin`delete from write_leases where holder = 'job-p'`;
  });

  it('is re-entrant for the same holder: a retry on another process takes its lease back, nobody else can', async () => {
    const dead = await process(), retry = await process(), other = await process();
    const first = await dead.locks.tryAcquire(['vmid:1:800', 'node:1:pve05:2'], 'apply-job:j1:vm-800');
    expect(first).not.toBeNull();
    expect(await other.locks.tryAcquire(['vmid:1:800'], 'apply-job:j2:vm-800')).toBeNull();
    expect(await retry.locks.heldBy('apply-job:j1:vm-800')).toEqual(expect.arrayContaining(['vmid:1:800', 'node:1:pve05:2']));
    const again = await retry.locks.tryAcquire(['vmid:1:800', 'node:1:pve05:2'], 'apply-job:j1:vm-800');
    expect(again, 'the same holder takes its keys back').not.toBeNull();
    expect(await other.locks.tryAcquire(['vmid:1:800'], 'apply-job:j2:vm-800'), 'still refused to others').toBeNull();
    await first!.release();
    expect(await holderOf('vmid:1:800'), 'the late release of the superseded attempt frees nothing').toBe('apply-job:j1:vm-800');
    await again!.release();
    expect(await holderOf('vmid:1:800')).toBeNull();
  });

  it('renews a held lease past its TTL, and lets one whose holder never returns lapse', async () => {
    const a = await process({ ttlMs: 1000, renewEveryMs: 200 }), b = await process();
    const held = await a.locks.tryAcquire(['vmid:1:900'], 'job-a:900');
    expect(held).not.toBeNull();
    await new Promise((r) => setTimeout(r, 3000));
    expect(await b.locks.tryAcquire(['vmid:1:900'], 'job-b:900'), 'renewed while held').toBeNull();
    // The holder's process goes away without releasing (a killed worker): nothing renews the lease any more.
    await a.close();
    expect(await b.locks.tryAcquire(['vmid:1:900'], 'job-b:900'), 'refused until the lease lapses').toBeNull();
    const after = await eventually(() => b.locks.tryAcquire(['vmid:1:900'], 'job-b:900').then(taken), 'the lapsed lease');
    expect(await holderOf('vmid:1:900')).toBe('job-b:900');
    await after.release();
  });

  it('reports a lease taken over after it lapsed at the next renewal', async () => {
    const lost: string[][] = [];
    const a = await process({ ttlMs: 60_000, renewEveryMs: 100, onLost: (_h, keys) => lost.push([...keys]) });
    const lease = await a.locks.tryAcquire(['vmid:1:910', 'node:1:pve06:0'], 'job-a:910');
    expect(lease).not.toBeNull();
    // As if the lease had lapsed while the database was out of reach and another write took the slot.
    await admin`update write_leases set holder = 'job-b:911', claim = 'other' where key = 'node:1:pve06:0'`;
    await eventually(async () => (lost.length ? true : undefined), 'the lost lease reported');
    expect(lost[0]).toEqual(['node:1:pve06:0']);
    await lease!.release();
    expect(await holderOf('node:1:pve06:0'), 'releasing does not free what another holder took').toBe('job-b:911');
    expect(await holderOf('vmid:1:910')).toBeNull();
    await admin`delete from write_leases where holder = 'job-b:911'`;
  });

  it('never throws from a release that fails: it is given back in the background', async () => {
    const b = await process();
    let failures = 1;
    const a = faulty(await process(), (text) => (text.includes('delete from write_leases') && failures-- > 0 ? 'before' : false));
    const lease = await a.tryAcquire(['vmid:1:710'], 'job-a:710');
    await expect(lease!.release()).resolves.toBeUndefined();
    const freed = await eventually(() => b.locks.tryAcquire(['vmid:1:710'], 'job-b:710').then(taken), 'the release retried in the background');
    await freed.release();
    const again = await a.tryAcquire(['vmid:1:710'], 'job-a:710b');
    expect(again, 'this process can take the key again').not.toBeNull();
    await again!.release();
  });

  it('reports a grab whose answer was lost to its caller and gives back whatever the statement took', async () => {
    const b = await process();
    let failures = 1;
    const a = faulty(await process(), (text) => (text.includes('write_lease_claim') && failures-- > 0 ? 'after' : false));
    await expect(a.tryAcquire(['vmid:1:720'], 'job-a:720')).rejects.toThrow('canceling statement');
    const free = await eventually(() => b.locks.tryAcquire(['vmid:1:720'], 'job-b:720').then(taken), 'the key given back');
    await free.release();
    const retried = await a.tryAcquire(['vmid:1:720'], 'job-a:720');
    expect(retried).not.toBeNull();
    await retried!.release();
  });

  it('survives its connections being terminated (pg_terminate_backend), and its leases with them', async () => {
    const a = await process(), b = await process();
    const lease = await a.locks.tryAcquire(['vmid:1:500', 'node:1:pve07:0'], 'job-a:500');
    expect(lease).not.toBeNull();
    const idle = await b.locks.tryAcquire(['vmid:1:501'], 'job-b:501');
    const kill = () => admin`select pg_terminate_backend(pid) from pg_stat_activity
      where datname = current_database() and pid <> pg_backend_pid()`;
    // Idle backends ended under both pools (the case that crashed postgres.js with a reserved connection).
    await kill();
    await new Promise((r) => setTimeout(r, 300));
    expect(await holderOf('vmid:1:500'), 'a lease is a row: it outlives the session').toBe('job-a:500');
    expect(await eventually(() => b.locks.tryAcquire(['vmid:1:500'], 'job-b:500').then((l) => (l === null ? 'refused' : 'taken')).catch(() => undefined), 'b answering again'))
      .toBe('refused');
    await kill();
    await lease!.release();
    await eventually(async () => ((await holderOf('vmid:1:500')) === null ? true : undefined), 'the release after the second termination');
    const after = await eventually(() => b.locks.tryAcquire(['vmid:1:500', 'node:1:pve07:0'], 'job-b:500').then(taken).catch(() => undefined), 'the released keys');
    await Promise.all([after.release(), idle!.release()]);
  });
});

describe('write leases on the embedded database (PGlite)', () => {
  let dir: string;
  let database: Database;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'proxbox-locks-'));
    database = await openDatabase({ pgliteDir: dir });
  });
  afterAll(async () => {
    await database?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('uses the same SQL: all or none, re-entrant for its holder, free once released', async () => {
    const { locks } = database;
    const lease = await locks.tryAcquire(['a', 'b'], 'h1');
    expect(lease).not.toBeNull();
    expect(await locks.tryAcquire(['b', 'c'], 'h2')).toBeNull();
    expect(await locks.tryAcquire(['c'], 'h2'), 'c was not taken by the refused grab').not.toBeNull();
    expect(await locks.heldBy('h1')).toEqual(expect.arrayContaining(['a', 'b']));
    const again = await locks.tryAcquire(['a', 'b'], 'h1');
    expect(again).not.toBeNull();
    await again!.release();
    await lease!.release();
    expect(await locks.tryAcquire(['b'], 'h2')).not.toBeNull();
  });
});
