import { randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import type { Db } from './client';
import type { QuotaEntry } from './schema';

/** A limit on one key: at most `limit` (summed weights) live at once; an entry lives `ttlMs`. */
export interface QuotaRule { limit: number; ttlMs: number }

export type QuotaAnswer = { ok: true; id: string } | { ok: false; retryAfterS: number };

const PRUNE_EVERY_MS = 60_000;

const rowsOf = <T>(result: unknown): T[] => (Array.isArray(result) ? result : (result as { rows: T[] }).rows) as T[];

/**
 * Counted quotas in PostgreSQL, so that every API process enforces the same limit (no in-process counters).
 *
 * - A **rate limit** takes an entry per event that lapses after the window: at most `limit` events in any rolling
 *   window of `ttlMs` (a sliding log, not fixed buckets, so no burst of twice the limit at a window boundary).
 * - A **lease** (concurrent streams) is an entry that the holder renews while it lasts and releases at the end; the
 *   lease of a process that died lapses after `ttlMs`.
 *
 * Taking is one `INSERT … ON CONFLICT DO UPDATE … WHERE fits`: the key's row is locked and the condition evaluated
 * on its latest version, so concurrent takers in several processes can never exceed the limit together. Time is the
 * database's clock, which all processes share.
 */
export class QuotaStore {
  private lastPrune = 0;

  constructor(private readonly db: Db) {}

  /** Takes `weight` of the key's limit, or says how long until it would fit. */
  async take(key: string, rule: QuotaRule, weight = 1): Promise<QuotaAnswer> {
    if (!Number.isInteger(weight) || weight < 1) throw new RangeError(`quota weight must be a positive integer, not ${weight}`);
    this.pruneSometimes();
    if (weight > rule.limit) return { ok: false, retryAfterS: Math.ceil(rule.ttlMs / 1000) };
    const id = randomUUID();
    const now = sql`(extract(epoch from now()) * 1000)::float8`;
    const live = sql`(select coalesce(jsonb_agg(e), '[]'::jsonb) from jsonb_array_elements(q.entries) e where (e->>'until')::float8 > ${now})`;
    const used = sql`(select coalesce(sum((e->>'w')::int), 0) from jsonb_array_elements(q.entries) e where (e->>'until')::float8 > ${now})`;
    const taken = rowsOf(await this.db.execute(sql`
      insert into quotas as q (key, entries, expires_at)
      values (${key}, jsonb_build_array(jsonb_build_object('id', ${id}::text, 'until', ${now} + ${rule.ttlMs}::float8, 'w', ${weight}::int)),
        now() + ${rule.ttlMs}::float8 * interval '1 millisecond')
      on conflict (key) do update set entries = ${live} || excluded.entries, expires_at = greatest(q.expires_at, excluded.expires_at)
      where ${used} + ${weight} <= ${rule.limit}::int
      returning 1 as taken`));
    if (taken.length > 0) return { ok: true, id };
    return { ok: false, retryAfterS: await this.retryAfter(key, rule, weight) };
  }

  /** Whether `weight` would fit now, without taking it (a lockout check before the work that would count). */
  async check(key: string, rule: QuotaRule, weight = 1): Promise<QuotaAnswer> {
    const { entries, nowMs } = await this.read(key);
    const used = entries.filter((e) => e.until > nowMs).reduce((n, e) => n + e.w, 0);
    return used + weight <= rule.limit ? { ok: true, id: '' } : { ok: false, retryAfterS: retryAfterS(entries, nowMs, rule, weight) };
  }

  /** Extends a lease by its rule's ttl from now. */
  async renew(key: string, id: string, rule: QuotaRule): Promise<void> {
    await this.db.execute(sql`
      update quotas set
        entries = (select coalesce(jsonb_agg(case when e->>'id' = ${id} then jsonb_set(e, '{until}',
          to_jsonb((extract(epoch from now()) * 1000)::float8 + ${rule.ttlMs}::float8)) else e end), '[]'::jsonb) from jsonb_array_elements(entries) e),
        expires_at = greatest(expires_at, now() + ${rule.ttlMs}::float8 * interval '1 millisecond')
      where key = ${key}`);
  }

  /** Gives a lease back at once. */
  async release(key: string, id: string): Promise<void> {
    await this.db.execute(sql`
      update quotas set entries = (select coalesce(jsonb_agg(e), '[]'::jsonb) from jsonb_array_elements(entries) e where e->>'id' <> ${id})
      where key = ${key}`);
  }

  private async retryAfter(key: string, rule: QuotaRule, weight: number): Promise<number> {
    const { entries, nowMs } = await this.read(key);
    return retryAfterS(entries, nowMs, rule, weight);
  }

  private async read(key: string): Promise<{ entries: QuotaEntry[]; nowMs: number }> {
    const [row] = rowsOf<{ entries: QuotaEntry[] | null; now_ms: number | string }>(await this.db.execute(sql`
      select (select entries from quotas where key = ${key}) as entries, (extract(epoch from now()) * 1000)::float8 as now_ms`));
    return { entries: row?.entries ?? [], nowMs: Number(row?.now_ms) };
  }

  /** Rows whose every entry lapsed (IPs that failed once, users gone quiet) are deleted now and then. */
  private pruneSometimes(): void {
    const now = Date.now();
    if (now - this.lastPrune < PRUNE_EVERY_MS) return;
    this.lastPrune = now;
    this.db.execute(sql`delete from quotas where expires_at < now()`).catch(() => { /* the next prune tries again */ });
  }
}

/** Seconds until enough live entries lapse for `weight` to fit (at least 1). */
export function retryAfterS(entries: readonly QuotaEntry[], nowMs: number, rule: QuotaRule, weight: number): number {
  const live = entries.filter((e) => e.until > nowMs).sort((a, b) => a.until - b.until);
  let excess = live.reduce((n, e) => n + e.w, 0) + weight - rule.limit;
  if (excess <= 0) return 1;
  for (const e of live) {
    excess -= e.w;
    if (excess <= 0) return Math.max(1, Math.ceil((e.until - nowMs) / 1000));
  }
  return Math.max(1, Math.ceil(rule.ttlMs / 1000));
}
