import type { Sql } from 'postgres';

export interface LockLease { release(): Promise<void> }

/**
 * Cross-process mutual exclusion for Proxmox writes. On PostgreSQL these are session advisory locks on a reserved
 * connection, so a worker that dies mid-write releases them with its connection.
 */
export interface WriteLocks {
  /** Takes every key or none; null when one of them is held elsewhere. */
  tryAcquire(keys: readonly string[]): Promise<LockLease | null>;
}

export function postgresLocks(sql: Sql): WriteLocks {
  return {
    async tryAcquire(keys) {
      const conn = await sql.reserve();
      const taken: string[] = [];
      try {
        for (const key of keys) {
          const [row] = await conn<{ ok: boolean }[]>`select pg_try_advisory_lock(hashtext(${key})) as ok`;
          if (!row?.ok) break;
          taken.push(key);
        }
      } catch (err) {
        conn.release();
        throw err;
      }
      const unlockAll = async () => {
        try {
          for (const key of taken) await conn`select pg_advisory_unlock(hashtext(${key}))`;
        } finally {
          conn.release();
        }
      };
      if (taken.length === keys.length) return { release: unlockAll };
      await unlockAll();
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
