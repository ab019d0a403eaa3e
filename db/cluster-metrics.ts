import { sql } from 'drizzle-orm';
import { Registry } from 'prom-client';
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

type Labels = Record<string, string | number>;
interface SampleValue { metricName?: string; labels: Labels; value: number }

/**
 * A metric whose samples are computed from the snapshot at collect time (prom-client's Gauge and Histogram hold values
 * of their own; these hold none): no samples at all when the snapshot could not be read.
 */
function snapshotMetric(name: string, help: string, type: 'gauge' | 'histogram', read: () => Promise<ClusterSnapshot | null>,
  valuesOf: (s: ClusterSnapshot) => SampleValue[]) {
  return {
    name, help, type, aggregator: 'omit' as const,
    async get() {
      const snapshot = await read();
      return { name, help, type, aggregator: 'omit' as const, values: snapshot ? valuesOf(snapshot) : [] };
    },
  };
}

/** Cumulative buckets, sum and count of one labelled histogram series. */
function histogramValues(name: string, buckets: number[], labels: Labels, series: { buckets: number[]; count: number; sum: number }): SampleValue[] {
  return [
    ...buckets.map((le, i) => ({ metricName: `${name}_bucket`, labels: { ...labels, le }, value: series.buckets[i] ?? 0 })),
    { metricName: `${name}_bucket`, labels: { ...labels, le: '+Inf' }, value: series.count },
    { metricName: `${name}_sum`, labels, value: series.sum },
    { metricName: `${name}_count`, labels, value: series.count },
  ];
}

/**
 * The cluster registry: every metric computed from one snapshot per scrape. A snapshot that cannot be read leaves them
 * without samples and `proxbox_intent_cluster_metrics_up` at 0; the process's own metrics are still served.
 */
export function clusterMetricsRegistry(db: Db, opts: { cacheMs?: number; buckets?: number[] } = {}): Registry {
  const registry = new Registry();
  const buckets = opts.buckets ?? DECISION_LATENCY_BUCKETS;
  const snapshot = cachedRead(() => readClusterSnapshot(db, buckets), opts.cacheMs ?? 5_000);
  const read = () => snapshot().catch(() => null);
  const latency = 'proxbox_intent_deletion_decision_latency_seconds';
  const metrics = [
    {
      name: 'proxbox_intent_cluster_metrics_up', help: 'Whether the PostgreSQL-backed metrics (the whole service) could be read for this scrape.', type: 'gauge' as const,
      aggregator: 'omit' as const,
      async get() {
        return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values: [{ labels: {}, value: (await read()) ? 1 : 0 }] };
      },
    },
    snapshotMetric('proxbox_intent_apply_jobs', 'Apply jobs by state, whole service (PostgreSQL). Final states only grow: increase() gives applies by outcome.', 'gauge', read,
      (s) => s.applyJobs.map((r) => ({ labels: { state: r.state }, value: r.n }))),
    snapshotMetric('proxbox_intent_vm_results', 'Per-VM results of every apply job by status and reason (empty: none), whole service (PostgreSQL).', 'gauge', read,
      (s) => s.vmResults.map((r) => ({ labels: { status: r.status, reason: r.reason }, value: r.n }))),
    snapshotMetric('proxbox_intent_deletion_requests', 'Deletion requests by state, whole service (PostgreSQL).', 'gauge', read,
      (s) => s.deletionRequests.map((r) => ({ labels: { state: r.state }, value: r.n }))),
    snapshotMetric('proxbox_intent_pending_deletions', 'Deletion requests waiting for a decision, whole service (PostgreSQL).', 'gauge', read,
      (s) => [{ labels: {}, value: s.deletionRequests.find((r) => r.state === 'pending')?.n ?? 0 }]),
    snapshotMetric('proxbox_intent_deliveries', 'Outbox deliveries (NetBox write-back, notifications) by channel and status, whole service (PostgreSQL).', 'gauge', read,
      (s) => s.deliveries.map((r) => ({ labels: { channel: r.channel, status: r.status }, value: r.n }))),
    snapshotMetric(latency, 'From a deletion request to its approval or rejection (decision label), whole service (PostgreSQL).', 'histogram', read,
      (s) => s.decisionLatency.flatMap((d) => histogramValues(latency, buckets, { decision: d.decision }, d))),
  ];
  // prom-client's registry renders any object with name, help, type and get(); its own metric classes are not needed here.
  for (const m of metrics) registry.registerMetric(m as unknown as Parameters<Registry['registerMetric']>[0]);
  return registry;
}
