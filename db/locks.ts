import type { ReservedSql, Sql } from 'postgres';
import { batchCalls } from '../infra/batching';
import { databaseErrorCode } from './errors';

export interface LockLease { release(): Promise<void> }

/**
 * Cross-process mutual exclusion for Proxmox writes, as PostgreSQL session advisory locks.
 */
export interface WriteLocks {
  /** Takes every key or none; null when one of them is held elsewhere. */
  tryAcquire(keys: readonly string[]): Promise<LockLease | null>;
}

type LockCall = { op: 'lock' | 'unlock'; keys: readonly string[] };
type LockOutcome = { won: boolean } | { error: unknown };

/**
 * A connection that is gone, and its session with every lock on it: postgres.js's own codes, SQLSTATE class 08
 * (connection exception) and 57P01–57P03 (`pg_terminate_backend`, a server shutting down; not 57014, a cancelled
 * statement, whose session lives on). The
 * reserved connection must then be given up at once: postgres.js 3.4.9 crashes the process when a query is written
 * to a reserved connection whose socket is gone (porsager/postgres#1208), found by the chaos suite.
 */
const isConnectionLost = (err: unknown) => {
  const code = databaseErrorCode(err) ?? '';
  return ['CONNECTION_CLOSED', 'CONNECTION_ENDED', 'CONNECTION_DESTROYED'].includes(code) || /^(08|57P0)/.test(code);
};

/**
 * All of a process's locks live on one reserved connection (advisory locks are per session and re-entrant, so the
 * process also keeps its own set of held keys). One connection per process, whatever the number of writes, and a
 * process that dies releases everything with its connection. The grabs and releases of concurrent writes share
 * one round trip.
 *
 * A key leaves `held` only once PostgreSQL is known not to hold it for us: an unlock that fails is retried in the
 * background (the key stays held here meanwhile, so this process never takes it twice), and a release never
 * throws, so a write whose outcome is already recorded is not reported as failed because of its lock.
 */
export function postgresLocks(sql: Sql, opts: { retryUnlockMs?: number } = {}): WriteLocks {
  const held = new Set<string>();
  const unreleased = new Set<string>();
  let session: Promise<ReservedSql> | null = null;
  let retry: ReturnType<typeof setTimeout> | null = null;
  const connection = () => (session ??= sql.reserve());

  const unlockLater = (keys: Iterable<string>, err: unknown) => {
    if (isConnectionLost(err)) {
      // The session is gone and its locks with it: start a new one for the next batch.
      session = null;
      for (const k of keys) { unreleased.delete(k); held.delete(k); }
      return;
    }
    for (const k of keys) unreleased.add(k);
    retry ??= setTimeout(() => {
      retry = null;
      if (unreleased.size) void call({ op: 'unlock', keys: [] });
    }, opts.retryUnlockMs ?? 1000);
    retry.unref?.();
  };
  const released = (keys: Iterable<string>) => {
    for (const k of keys) { unreleased.delete(k); held.delete(k); }
  };

  const call = batchCalls<LockCall, LockOutcome>(async (calls) => {
    const grabs = calls.filter((c) => c.op === 'lock');
    const releasing = [...new Set([...unreleased, ...calls.filter((c) => c.op === 'unlock').flatMap((c) => c.keys)])];
    const grabbed = grabs.flatMap((c, g) => c.keys.map((k) => ({ g, k })));
    let conn: ReservedSql;
    try {
      conn = await connection();
    } catch (error) {
      session = null;
      for (const { k } of grabbed) held.delete(k);
      if (releasing.length) unlockLater(releasing, error);
      return calls.map((c) => (c.op === 'lock' ? { error } : { won: true }));
    }
    const unlock = (keys: readonly string[]) => conn`select pg_advisory_unlock(hashtext(k)) from unnest(${keys as string[]}::text[]) as k`;
    const [unlocked, attempted] = await Promise.allSettled([
      releasing.length ? unlock(releasing) : Promise.resolve(),
      grabbed.length
        ? conn<{ g: number; k: string; ok: boolean }[]>`select g, k, pg_try_advisory_lock(hashtext(k)) as ok
            from unnest(${grabbed.map((x) => x.g)}::int[], ${grabbed.map((x) => x.k)}::text[]) as t(g, k)`
        : Promise.resolve([]),
    ]);
    if (unlocked.status === 'fulfilled') released(releasing);
    else unlockLater(releasing, unlocked.reason);

    if (attempted.status === 'rejected') {
      // Which keys the failed statement took is unknown: give them all back (unlocking a key not held is a no-op).
      unlockLater(grabbed.map((x) => x.k), attempted.reason);
      return calls.map((c) => (c.op === 'lock' ? { error: attempted.reason } : { won: true }));
    }
    const rows = attempted.value;
    // All keys of a grab or none: a partial grab gives back what it took; the winners keep theirs whatever happens.
    const won = grabs.map((_, g) => rows.filter((r) => r.g === g).every((r) => r.ok));
    for (const r of rows) if (!r.ok) held.delete(r.k);
    const giveBack = rows.filter((r) => r.ok && !won[r.g]).map((r) => r.k);
    if (giveBack.length) {
      try {
        await unlock(giveBack);
        released(giveBack);
      } catch (err) {
        unlockLater(giveBack, err);
      }
    }
    let g = 0;
    return calls.map((c) => (c.op === 'lock' ? { won: won[g++]! } : { won: true }));
  }, { isolateFailures: false });

  return {
    async tryAcquire(keys) {
      // Claim locally before any await, so two activities of this process cannot both pass for one key.
      if (keys.some((k) => held.has(k))) return null;
      for (const k of keys) held.add(k);
      const outcome = await call({ op: 'lock', keys });
      if ('error' in outcome) throw outcome.error;
      if (!outcome.won) return null;
      return { release: async () => { await call({ op: 'unlock', keys }); } };
    },
  };
}

/** For the embedded single-process database (PGlite): one process, so a set in memory is the whole truth. */
export function inProcessLocks(): WriteLocks {
  const held = new Set<string>();
  return {
    async tryAcquire(keys) {
      if (keys.some((k) => held.has(k))) return null;
      for (const k of keys) held.add(k);
      return { release: async () => { for (const k of keys) held.delete(k); } };
    },
  };
}
