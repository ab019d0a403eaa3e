import type { ReservedSql, Sql } from 'postgres';
import { batchCalls } from '../infra/batching';

export interface LockLease { release(): Promise<void> }

/**
 * Cross-process mutual exclusion for Proxmox writes, as PostgreSQL session advisory locks.
 */
export interface WriteLocks {
  /** Takes every key or none; null when one of them is held elsewhere. */
  tryAcquire(keys: readonly string[]): Promise<LockLease | null>;
}

type LockCall = { op: 'lock' | 'unlock'; keys: readonly string[] };

/**
 * All of a process's locks live on one reserved connection (advisory locks are per session and re-entrant, so the
 * process also keeps its own set of held keys). One connection per process, whatever the number of writes, and a
 * process that dies releases everything with its connection. The grabs and releases of concurrent writes share
 * one round trip.
 */
export function postgresLocks(sql: Sql): WriteLocks {
  const held = new Set<string>();
  let session: Promise<ReservedSql> | null = null;
  const connection = () => (session ??= sql.reserve());
  const unlock = (conn: ReservedSql, keys: readonly string[]) =>
    conn`select pg_advisory_unlock(hashtext(k)) from unnest(${keys as string[]}::text[]) as k`;

  // A batch that failed part way must not be replayed key by key (advisory locks are re-entrant): its callers retry.
  const call = batchCalls<LockCall, boolean>(async (calls) => {
    const conn = await connection();
    const releasing = calls.filter((c) => c.op === 'unlock').flatMap((c) => c.keys);
    const grabs = calls.filter((c) => c.op === 'lock');
    const released = releasing.length ? unlock(conn, releasing) : null;
    const attempt = grabs.length
      ? conn<{ g: number; ok: boolean }[]>`select g, pg_try_advisory_lock(hashtext(k)) as ok
          from unnest(${grabs.flatMap((c, g) => c.keys.map(() => g))}::int[], ${grabs.flatMap((c) => [...c.keys])}::text[]) as t(g, k)`
      : null;
    const [, taken] = await Promise.all([released, attempt]);
    const rows = taken ?? [];
    // All keys of a grab or none: a partial grab gives back what it took, in one more round trip.
    const won = grabs.map((_, g) => rows.filter((r) => r.g === g).every((r) => r.ok));
    const flat = grabs.flatMap((c) => [...c.keys]);
    const giveBack = rows.map((r, i) => ({ ...r, k: flat[i]! })).filter((r) => r.ok && !won[r.g]).map((r) => r.k);
    if (giveBack.length) await unlock(conn, giveBack);
    let g = 0;
    return calls.map((c) => (c.op === 'unlock' ? true : won[g++]!));
  }, { isolateFailures: false });

  return {
    async tryAcquire(keys) {
      // Claim locally before any await, so two activities of this process cannot both pass for one key.
      if (keys.some((k) => held.has(k))) return null;
      for (const k of keys) held.add(k);
      let ok = false;
      try {
        ok = await call({ op: 'lock', keys });
      } finally {
        if (!ok) for (const k of keys) held.delete(k);
      }
      if (!ok) return null;
      return { release: async () => { try { await call({ op: 'unlock', keys }); } finally { for (const k of keys) held.delete(k); } } };
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
