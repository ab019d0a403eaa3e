import { randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { batchCalls } from '../infra/batching';
import type { Db } from './client';

export interface LockLease { release(): Promise<void> }

/**
 * Cross-process mutual exclusion for Proxmox writes: leases stored as rows of `write_leases`, so that a lease belongs
 * to a write (its holder), not to a process or a database session.
 */
export interface WriteLocks {
  /**
   * Takes every key for `holder`, or none: null when another holder has one of them. Re-entrant: keys the same holder
   * already has (an earlier attempt of the same write, on a worker that died) are taken back.
   */
  tryAcquire(keys: readonly string[], holder: string): Promise<LockLease | null>;
  /** The keys `holder` has now, lapsed or not (what an earlier attempt of the same write took). */
  heldBy(holder: string): Promise<string[]>;
}

/**
 * How long a lease lives without renewal. It must outlast the time a write's retry needs to come back after its worker
 * died (the activity's heartbeat timeout, then the retry delay, then a free worker), or another write may take the
 * slot while the first one's Proxmox task still runs; and it is how long a slot stays taken when the write never
 * comes back (retries exhausted, workflow terminated).
 */
export const DEFAULT_WRITE_LEASE_TTL_MS = 180_000;

export interface LeaseOptions {
  ttlMs?: number;
  /** How often the leases this process holds are renewed (default: a quarter of the TTL). */
  renewEveryMs?: number;
  /** The wait before a release that failed is tried again. */
  retryReleaseMs?: number;
  /** A lease found taken over at renewal (it lapsed while its write ran, e.g. the database was unreachable for a TTL). */
  onLost?: (holder: string, keys: readonly string[]) => void;
}

type LockCall =
  | { op: 'grab'; keys: readonly string[]; holder: string; claim: string }
  | { op: 'release'; keys: readonly string[]; claim: string };
type LockOutcome = { won: boolean } | { error: unknown };

const rowsOf = <T>(result: unknown): T[] => (Array.isArray(result) ? result : (result as { rows: T[] }).rows) as T[];

/**
 * Write leases in PostgreSQL (or the embedded PGlite: same SQL). Each acquisition is a claim (a random id) on its
 * keys: renewals and releases name the claim, so those of an attempt that was superseded by a retry do nothing.
 *
 * The grabs and releases of concurrent writes of this process share one round trip; the leases it holds are renewed
 * together, once per `renewEveryMs`. The process also keeps which keys its own writes hold, to refuse a grab of
 * another holder without asking the database (and so that one call never asks for a key for two holders).
 *
 * A release never throws, so that a write whose outcome is already recorded is not reported as failed because of its
 * lock: one that fails is retried in the background, and the lease lapses at its TTL in any case.
 */
export function leasedLocks(db: Db, opts: LeaseOptions = {}): WriteLocks {
  const ttlMs = opts.ttlMs ?? DEFAULT_WRITE_LEASE_TTL_MS;
  const renewEveryMs = opts.renewEveryMs ?? Math.max(1000, Math.floor(ttlMs / 4));
  /** Keys held or being grabbed by writes of this process, with their holder and how many claims of it hold them. */
  const local = new Map<string, { holder: string; n: number }>();
  /** Claims held now, renewed until released. */
  const held = new Map<string, { holder: string; keys: readonly string[] }>();
  /** Claims whose release failed (or whose grab may have committed without our knowing): given back in the background. */
  const unreleased = new Map<string, readonly string[]>();
  let retry: ReturnType<typeof setTimeout> | null = null;
  let renewal: ReturnType<typeof setInterval> | null = null;

  const take = (keys: readonly string[], holder: string) => {
    for (const k of keys) {
      const entry = local.get(k);
      if (entry) entry.n += 1;
      else local.set(k, { holder, n: 1 });
    }
  };
  const forget = (keys: readonly string[]) => {
    for (const k of keys) {
      const entry = local.get(k);
      if (entry && --entry.n <= 0) local.delete(k);
    }
  };

  const releaseLater = (claim: string, keys: readonly string[]) => {
    unreleased.set(claim, keys);
    retry ??= setTimeout(() => {
      retry = null;
      if (unreleased.size) void call({ op: 'release', keys: [], claim: '' });
    }, opts.retryReleaseMs ?? 1000);
    retry.unref?.();
  };

  const renew = async () => {
    if (held.size === 0) return;
    const claims = [...held.entries()];
    const rows = claims.flatMap(([c, { keys }]) => keys.map((k) => ({ k, c })));
    let renewed: { key: string; claim: string }[];
    try {
      renewed = rowsOf(await db.execute(sql`
        update write_leases l set expires_at = now() + ${ttlMs}::float8 * interval '1 millisecond'
        from json_to_recordset(${JSON.stringify(rows)}::json) as r(k text, c text)
        where l.key = r.k and l.claim = r.c
        returning l.key, l.claim`));
    } catch {
      return; // the next round tries again; a lease lapses only after a whole TTL without renewal
    }
    const kept = new Set(renewed.map((r) => `${r.claim}\u0000${r.key}`));
    for (const [claim, lease] of claims) {
      if (!held.has(claim)) continue; // released meanwhile
      const lost = lease.keys.filter((k) => !kept.has(`${claim}\u0000${k}`));
      if (lost.length === 0) continue;
      // Taken over after it lapsed: nothing to renew any more; the write goes on (its request is already sent).
      const still = lease.keys.filter((k) => !lost.includes(k));
      if (still.length) held.set(claim, { ...lease, keys: still });
      else held.delete(claim);
      opts.onLost?.(lease.holder, lost);
    }
  };
  const startRenewing = () => {
    if (renewal) return;
    renewal = setInterval(() => {
      if (held.size === 0) {
        clearInterval(renewal!);
        renewal = null;
        return;
      }
      void renew();
    }, renewEveryMs);
    renewal.unref?.();
  };

  const call = batchCalls<LockCall, LockOutcome>(async (calls) => {
    const grabs = calls.filter((c): c is Extract<LockCall, { op: 'grab' }> => c.op === 'grab');
    for (const c of calls) if (c.op === 'release' && c.claim) unreleased.set(c.claim, c.keys);
    const releasing = [...unreleased.entries()];
    unreleased.clear();
    const releaseRows = releasing.flatMap(([c, keys]) => keys.map((k) => ({ k, c })));
    const grabRows = grabs.flatMap((c, g) => c.keys.map((k) => ({ g, k, h: c.holder, c: c.claim })));

    const [released, attempted] = await Promise.allSettled([
      releaseRows.length
        ? db.execute(sql`delete from write_leases l using json_to_recordset(${JSON.stringify(releaseRows)}::json) as r(k text, c text)
            where l.key = r.k and l.claim = r.c`)
        : Promise.resolve(),
      grabRows.length
        ? db.execute(sql`select grab, won from write_lease_claim(${JSON.stringify(grabRows)}::json, ${ttlMs}::float8)`).then((r) => rowsOf<{ grab: number; won: boolean }>(r))
        : Promise.resolve([]),
    ]);
    if (released.status === 'rejected') for (const [c, keys] of releasing) releaseLater(c, keys);

    if (attempted.status === 'rejected') {
      // Whether the statement committed is unknown: give back whatever it may have taken (a claim nobody else has).
      for (const c of grabs) releaseLater(c.claim, c.keys);
      return calls.map((c) => (c.op === 'grab' ? { error: attempted.reason } : { won: true }));
    }
    const won = new Map(attempted.value.map((r) => [r.grab, r.won]));
    let g = 0;
    return calls.map((c) => (c.op === 'grab' ? { won: won.get(g++) === true } : { won: true }));
  }, { isolateFailures: false });

  return {
    async tryAcquire(keys, holder) {
      // Claim locally before any await, so two writes of this process never ask for one key at once.
      if (keys.some((k) => { const e = local.get(k); return e !== undefined && e.holder !== holder; })) return null;
      take(keys, holder);
      const claim = randomUUID();
      let outcome: LockOutcome;
      try {
        outcome = await call({ op: 'grab', keys, holder, claim });
      } catch (error) {
        outcome = { error };
      }
      if ('error' in outcome || !outcome.won) {
        forget(keys);
        if ('error' in outcome) throw outcome.error;
        return null;
      }
      held.set(claim, { holder, keys });
      startRenewing();
      let released = false;
      return {
        release: async () => {
          if (released) return;
          released = true;
          held.delete(claim);
          forget(keys);
          await call({ op: 'release', keys, claim }).catch(() => releaseLater(claim, keys));
        },
      };
    },

    async heldBy(holder) {
      return rowsOf<{ key: string }>(await db.execute(sql`select key from write_leases where holder = ${holder}`)).map((r) => r.key);
    },
  };
}
