import { sql } from 'drizzle-orm';
import { Gauge, Registry } from 'prom-client';
import type { Db } from './client';

/**
 * Metrics of the whole service, read from PostgreSQL when scraped (README "Metrics"): every API and worker process
 * answers the same numbers, so a dashboard sums nothing and loses nothing when a process restarts. One query per
 * scrape, shared by every metric below and reused for `cacheMs` (several processes scraped at once, or a scrape
 * retried, cost one query each).
 */

/** Seconds from a deletion request to its decision: minutes to the TTL's days. */
export const DECISION_LATENCY_BUCKETS = [60, 300, 900, 3600, 4 * 3600, 12 * 3600, 86_400, 2 * 86_400, 3 * 86_400, 7 * 86_400, 14 * 86_400, 30 * 86_400];

export interface ClusterSnapshot {
  applyJobs: { state: string; n: number }[];
  vmResults: { status: string; reason: string; n: number }[];
  deletionRequests: { state: string; n: number }[];
  deliveries: { channel: string; status: string; n: number }[];
  /** Per decision (`approved`, `rejected`): cumulative counts at each of DECISION_LATENCY_BUCKETS, the count and the sum. */
  decisionLatency: { decision: string; buckets: number[]; count: number; sum: number }[];
}

type Row = { m: string; a: string | null; b: string | null; n: number | string; s: number | string | null; le: (number | string)[] | null };

const rowsOf = <T>(result: unknown): T[] => (Array.isArray(result) ? result : (result as { rows: T[] }).rows) as T[];

/** Everything in one round trip. */
export async function readClusterSnapshot(db: Db, buckets: number[] = DECISION_LATENCY_BUCKETS): Promise<ClusterSnapshot> {
  const perBucket = sql.raw(`array[${buckets.map((b) => `count(*) filter (where secs <= ${Number(b)})`).join(', ')}]::float8[]`);
  const rows = rowsOf<Row>(await db.execute(sql`
    with decided as (
      select case when state = 'rejected' then 'rejected' else 'approved' end as decision,
             extract(epoch from (decided_at - requested_at))::float8 as secs
        from deletion_requests
       where decided_at is not null and authorizer is not null
    )
    select 'job' as m, state as a, null as b, count(*) as n, null::float8 as s, null::float8[] as le from apply_jobs group by state
    union all
    select 'result', status, coalesce(reason, ''), count(*), null, null from apply_results group by status, coalesce(reason, '')
    union all
    select 'deletion', state, null, count(*), null, null from deletion_requests group by state
    union all
    select 'delivery', channel, status, count(*), null, null from deliveries group by channel, status
    union all
    select 'decision', decision, null, count(*), sum(secs), ${perBucket} from decided group by decision
  `));
  const snapshot: ClusterSnapshot = { applyJobs: [], vmResults: [], deletionRequests: [], deliveries: [], decisionLatency: [] };
  for (const r of rows) {
    const n = Number(r.n);
    if (r.m === 'job') snapshot.applyJobs.push({ state: r.a ?? '', n });
    else if (r.m === 'result') snapshot.vmResults.push({ status: r.a ?? '', reason: r.b ?? '', n });
    else if (r.m === 'deletion') snapshot.deletionRequests.push({ state: r.a ?? '', n });
    else if (r.m === 'delivery') snapshot.deliveries.push({ channel: r.a ?? '', status: r.b ?? '', n });
    else if (r.m === 'decision') snapshot.decisionLatency.push({ decision: r.a ?? '', buckets: (r.le ?? []).map(Number), count: n, sum: Number(r.s ?? 0) });
  }
  return snapshot;
}

/** The same promise for `ttlMs`: concurrent and repeated collects share one read; a failed read is not kept. */
export function cachedRead<T>(read: () => Promise<T>, ttlMs: number, now: () => number = Date.now): () => Promise<T> {
  let held: { at: number; value: Promise<T> } | null = null;
  return () => {
    if (held && now() - held.at < ttlMs) return held.value;
    const value = read();
    const entry = { at: now(), value };
    held = entry;
    value.catch(() => { if (held === entry) held = null; });
    return value;
  };
}

/** A histogram whose samples come from a snapshot (prom-client's Histogram can only observe). */
function snapshotHistogram(name: string, help: string, buckets: number[], read: () => Promise<{ decision: string; buckets: number[]; count: number; sum: number }[] | null>) {
  return {
    name, help, type: 'histogram' as const, aggregator: 'omit' as const,
    async get() {
      const series = (await read()) ?? [];
      const values = series.flatMap((s) => [
        ...buckets.map((le, i) => ({ metricName: `${name}_bucket`, labels: { decision: s.decision, le }, value: s.buckets[i] ?? 0 })),
        { metricName: `${name}_bucket`, labels: { decision: s.decision, le: '+Inf' }, value: s.count },
        { metricName: `${name}_sum`, labels: { decision: s.decision }, value: s.sum },
        { metricName: `${name}_count`, labels: { decision: s.decision }, value: s.count },
      ]);
      return { name, help, type: 'histogram' as const, aggregator: 'omit' as const, values };
    },
  };
}

/**
 * The cluster registry: gauges filled from one snapshot per scrape. A snapshot that cannot be read leaves them empty and
 * `proxbox_intent_cluster_metrics_up` at 0; the process's own metrics are still served.
 */
export function clusterMetricsRegistry(db: Db, opts: { cacheMs?: number; buckets?: number[] } = {}): Registry {
  const registry = new Registry();
  const registers = [registry];
  const buckets = opts.buckets ?? DECISION_LATENCY_BUCKETS;
  const snapshot = cachedRead(() => readClusterSnapshot(db, buckets), opts.cacheMs ?? 5_000);
  const read = () => snapshot().catch(() => null);

  new Gauge({
    name: 'proxbox_intent_cluster_metrics_up', help: 'Whether the PostgreSQL-backed metrics (scope: the whole service) could be read for this scrape.', registers,
    async collect() { this.set((await read()) ? 1 : 0); },
  });
  new Gauge({
    name: 'proxbox_intent_apply_jobs', help: 'Apply jobs by state, whole service (PostgreSQL). Final states only grow: use increase() for applies by outcome.', labelNames: ['state'], registers,
    async collect() {
      this.reset();
      for (const r of (await read())?.applyJobs ?? []) this.set({ state: r.state }, r.n);
    },
  });
  new Gauge({
    name: 'proxbox_intent_vm_results', help: 'Per-VM results of every apply job by status and reason (empty: none), whole service (PostgreSQL).', labelNames: ['status', 'reason'], registers,
    async collect() {
      this.reset();
      for (const r of (await read())?.vmResults ?? []) this.set({ status: r.status, reason: r.reason }, r.n);
    },
  });
  new Gauge({
    name: 'proxbox_intent_deletion_requests', help: 'Deletion requests by state, whole service (PostgreSQL).', labelNames: ['state'], registers,
    async collect() {
      this.reset();
      for (const r of (await read())?.deletionRequests ?? []) this.set({ state: r.state }, r.n);
    },
  });
  new Gauge({
    name: 'proxbox_intent_pending_deletions', help: 'Deletion requests waiting for a decision, whole service (PostgreSQL).', registers,
    async collect() {
      const s = await read();
      if (s) this.set(s.deletionRequests.find((r) => r.state === 'pending')?.n ?? 0);
      else this.reset();
    },
  });
  new Gauge({
    name: 'proxbox_intent_deliveries', help: 'Outbox deliveries (NetBox write-back, notifications) by channel and status, whole service (PostgreSQL).', labelNames: ['channel', 'status'], registers,
    async collect() {
      this.reset();
      for (const r of (await read())?.deliveries ?? []) this.set({ channel: r.channel, status: r.status }, r.n);
    },
  });
  registry.registerMetric(snapshotHistogram('proxbox_intent_deletion_decision_latency_seconds',
    'From a deletion request to its approval or rejection (decision label), whole service (PostgreSQL).', buckets,
    async () => (await read())?.decisionLatency ?? null) as never);
  return registry;
}
