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
      const taken: string[] = [];
      const unlock = async (list: string[]) => {
        for (const key of list) await conn`select pg_advisory_unlock(hashtext(${key}))`;
        for (const key of keys) held.delete(key);
      };
      try {
        for (const key of keys) {
          const [row] = await conn<{ ok: boolean }[]>`select pg_try_advisory_lock(hashtext(${key})) as ok`;
          if (!row?.ok) break;
          taken.push(key);
        }
      } catch (err) {
        await unlock(taken).catch(() => {});
        throw err;
      }
      if (taken.length === keys.length) return { release: () => unlock(taken) };
      await unlock(taken);
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
