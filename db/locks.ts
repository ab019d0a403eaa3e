import type { ReservedSql, Sql } from 'postgres';

export interface LockLease { release(): Promise<void> }

/**
 * Cross-process mutual exclusion for Proxmox writes, as PostgreSQL session advisory locks.
 */
export interface WriteLocks {
  /** Takes every key or none; null when one of them is held elsewhere. */
  tryAcquire(keys: readonly string[]): Promise<LockLease | null>;
}

/**
 * All of a process's locks live on one reserved connection (advisory locks are per session and re-entrant, so the
 * process also keeps its own set of held keys). One connection per process, whatever the number of writes, and a
 * process that dies releases everything with its connection.
 */
export function postgresLocks(sql: Sql): WriteLocks {
  const held = new Set<string>();
  let session: Promise<ReservedSql> | null = null;
  const connection = () => (session ??= sql.reserve());
  return {
    async tryAcquire(keys) {
      // Claim locally before any await, so two activities of this process cannot both pass for one key.
      if (keys.some((k) => held.has(k))) return null;
      for (const k of keys) held.add(k);
      const conn = await connection();
      const release = async (list: readonly string[]) => {
        if (list.length) await conn`select pg_advisory_unlock(hashtext(k)) from unnest(${list as string[]}::text[]) as k`;
      };
      try {
        // One round trip for all keys; a partial grab is given back at once.
        const rows = await conn<{ k: string; ok: boolean }[]>`select k, pg_try_advisory_lock(hashtext(k)) as ok from unnest(${keys as string[]}::text[]) as k`;
        const taken = rows.filter((r) => r.ok).map((r) => r.k);
        if (taken.length === keys.length) {
          return { release: async () => { try { await release(taken); } finally { for (const k of keys) held.delete(k); } } };
        }
        await release(taken);
      } catch (err) {
        for (const k of keys) held.delete(k);
        throw err;
      }
      for (const k of keys) held.delete(k);
      return null;
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
