import { describe, expect, it } from 'vitest';
import { ProcessMetrics, joinExpositions, metricsAccessAllowed, metricsResponse, metricsSource, sdkScrapeUrl } from '../../infra/metrics';
import { cachedRead, clusterMetricsRegistry } from '../../db/cluster-metrics';
import type { Db } from '../../db/client';
import { taskOutcomeLabel } from '../../activities/proxmox-tasks';
import { parseExposition, samplesOf, sumOf } from '../support/prometheus';

const TOKEN = 'metrics-token-0123456789';
const identity = (process: 'api' | 'worker') => ({ process, hostname: 'host-a', pid: 4242 });

/** A database that answers the cluster snapshot's one query with these rows (and counts the queries). */
function fakeDb(rows: Record<string, unknown>[] | (() => Promise<Record<string, unknown>[]>)) {
  const db = { queries: 0, execute: async () => { db.queries += 1; return typeof rows === 'function' ? rows() : rows; } };
  return db as typeof db & Db;
}

describe('metrics: access', () => {
  it('is open without METRICS_TOKEN and needs exactly Bearer <token> with one', () => {
    expect(metricsAccessAllowed(undefined, undefined)).toBe(true);
    expect(metricsAccessAllowed('Bearer anything', undefined)).toBe(true);
    expect(metricsAccessAllowed(undefined, TOKEN)).toBe(false);
    expect(metricsAccessAllowed('', TOKEN)).toBe(false);
    expect(metricsAccessAllowed(TOKEN, TOKEN)).toBe(false);
    expect(metricsAccessAllowed(`Basic ${TOKEN}`, TOKEN)).toBe(false);
    expect(metricsAccessAllowed(`Bearer ${TOKEN}x`, TOKEN)).toBe(false);
    expect(metricsAccessAllowed(`Bearer ${TOKEN}`, TOKEN)).toBe(true);
    expect(metricsAccessAllowed(`bearer  ${TOKEN}`, TOKEN)).toBe(true);
  });

  it('answers 401 problem+json without the token, and the scrape with it', async () => {
    const source = { render: async () => 'x 1\n' };
    const refused = await metricsResponse(source, TOKEN, null);
    expect(refused.status).toBe(401);
    expect(refused.headers.get('content-type')).toBe('application/problem+json');
    expect(refused.headers.get('www-authenticate')).toMatch(/^Bearer/);
    const body = await refused.text();
    expect(JSON.parse(body)).toMatchObject({ status: 401, code: 'unauthorized' });
    expect(body, 'the token never appears in an answer').not.toContain(TOKEN);
    const ok = await metricsResponse(source, TOKEN, `Bearer ${TOKEN}`);
    expect(ok.status).toBe(200);
    expect(ok.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(await ok.text()).toBe('x 1\n');
  });
});

describe('metrics: the process registry', () => {
  it('keeps each system’s counts apart and labels them with the process identity', async () => {
    const a = new ProcessMetrics(identity('api'), { defaultMetrics: false });
    const b = new ProcessMetrics(identity('worker'), { defaultMetrics: false });
    a.vmWrite({ op: 'create', kind: 'qemu', status: 'succeeded' }, 1.5);
    a.vmWrite({ op: 'create', kind: 'qemu', status: 'succeeded' }, 0.2);
    a.proxmoxTask({ op: 'destroy', outcome: 'ok' }, 3);
    a.upstreamError({ system: 'netbox', kind: 'timeout' });
    b.upstreamError({ system: 'proxbox-api', kind: 'server_error' });
    const sa = parseExposition(await a.registry.metrics());
    const sb = parseExposition(await b.registry.metrics());
    expect(sumOf(sa, 'proxbox_intent_vm_write_duration_seconds_count', { op: 'create', kind: 'qemu', status: 'succeeded', process: 'api', hostname: 'host-a', pid: '4242' })).toBe(2);
    expect(sumOf(sa, 'proxbox_intent_vm_write_duration_seconds_bucket', { status: 'succeeded', le: '1' })).toBe(1);
    expect(sumOf(sa, 'proxbox_intent_vm_write_duration_seconds_sum')).toBeCloseTo(1.7);
    expect(sumOf(sa, 'proxbox_intent_proxmox_task_duration_seconds_count', { op: 'destroy', outcome: 'ok' })).toBe(1);
    expect(sumOf(sa, 'proxbox_intent_upstream_errors_total', { system: 'netbox', kind: 'timeout' })).toBe(1);
    expect(sumOf(sa, 'proxbox_intent_upstream_errors_total', { system: 'proxbox-api' })).toBe(0);
    expect(sumOf(sb, 'proxbox_intent_upstream_errors_total', { system: 'proxbox-api', kind: 'server_error', process: 'worker' })).toBe(1);
    expect(sumOf(sb, 'proxbox_intent_vm_write_duration_seconds_count')).toBe(0);
  });

  it('adds prom-client’s default process metrics when asked', async () => {
    const m = new ProcessMetrics(identity('api'));
    const samples = parseExposition(await m.registry.metrics());
    expect(samplesOf(samples, 'process_cpu_user_seconds_total', { process: 'api' })).toHaveLength(1);
  });

  it('names a Proxmox task’s outcome', () => {
    expect(taskOutcomeLabel({ done: true, ok: true, warnings: null })).toBe('ok');
    expect(taskOutcomeLabel({ done: true, ok: false, reason: 'boom' })).toBe('failed');
    expect(taskOutcomeLabel({ done: false, followable: true, why: 'late' })).toBe('deadline');
    expect(taskOutcomeLabel({ done: false, followable: false, why: 'no route' })).toBe('unfollowable');
  });
});

describe('metrics: the cluster registry (from PostgreSQL)', () => {
  const rows = [
    { m: 'job', a: 'succeeded', b: null, n: '2', s: null, le: null },
    { m: 'job', a: 'partial', b: null, n: 1, s: null, le: null },
    { m: 'result', a: 'failed', b: 'vmid_in_use', n: '1', s: null, le: null },
    { m: 'result', a: 'succeeded', b: '', n: '3', s: null, le: null },
    { m: 'deletion', a: 'pending', b: null, n: '4', s: null, le: null },
    { m: 'deletion', a: 'succeeded', b: null, n: '1', s: null, le: null },
    { m: 'delivery', a: 'netbox_journal', b: 'delivered', n: '5', s: null, le: null },
    { m: 'decision', a: 'approved', b: null, n: '2', s: '700', le: ['1', '2'] },
  ];

  it('renders one snapshot as gauges and a histogram without process labels', async () => {
    const db = fakeDb(rows);
    const samples = parseExposition(await clusterMetricsRegistry(db, { buckets: [60, 600] }).metrics());
    expect(sumOf(samples, 'proxbox_intent_cluster_metrics_up')).toBe(1);
    expect(samplesOf(samples, 'proxbox_intent_apply_jobs').map((s) => [s.labels, s.value])).toEqual([[{ state: 'succeeded' }, 2], [{ state: 'partial' }, 1]]);
    expect(sumOf(samples, 'proxbox_intent_vm_results', { status: 'failed', reason: 'vmid_in_use' })).toBe(1);
    expect(sumOf(samples, 'proxbox_intent_vm_results', { status: 'succeeded', reason: '' })).toBe(3);
    expect(sumOf(samples, 'proxbox_intent_deletion_requests', { state: 'pending' })).toBe(4);
    expect(sumOf(samples, 'proxbox_intent_pending_deletions')).toBe(4);
    expect(sumOf(samples, 'proxbox_intent_deliveries', { channel: 'netbox_journal', status: 'delivered' })).toBe(5);
    const latency = samplesOf(samples, 'proxbox_intent_deletion_decision_latency_seconds_bucket', { decision: 'approved' }).map((s) => [s.labels.le, s.value]);
    expect(latency).toEqual([['60', 1], ['600', 2], ['+Inf', 2]]);
    expect(sumOf(samples, 'proxbox_intent_deletion_decision_latency_seconds_sum')).toBe(700);
    expect(sumOf(samples, 'proxbox_intent_deletion_decision_latency_seconds_count')).toBe(2);
    expect(samples.every((s) => !('process' in s.labels) && !('pid' in s.labels))).toBe(true);
    expect(db.queries, 'one query for every metric of a scrape').toBe(1);
  });

  it('a database that cannot be read leaves the gauges empty and says so, without failing the scrape', async () => {
    const db = fakeDb(async () => { throw new Error('connection refused'); });
    const samples = parseExposition(await clusterMetricsRegistry(db).metrics());
    expect(sumOf(samples, 'proxbox_intent_cluster_metrics_up')).toBe(0);
    expect(samplesOf(samples, 'proxbox_intent_apply_jobs')).toHaveLength(0);
    expect(samplesOf(samples, 'proxbox_intent_pending_deletions')).toHaveLength(0);
  });

  it('shares one read for a few seconds and forgets a failed one', async () => {
    let now = 0;
    let reads = 0;
    let fail = false;
    const read = cachedRead(async () => { reads += 1; if (fail) throw new Error('down'); return reads; }, 5_000, () => now);
    expect(await Promise.all([read(), read()])).toEqual([1, 1]);
    now = 4_999;
    expect(await read()).toBe(1);
    now = 5_000;
    fail = true;
    await expect(read()).rejects.toThrow('down');
    fail = false;
    expect(await read(), 'a failure is not cached').toBe(3);
  });

  it('one scrape: the process registry, then the cluster’s', async () => {
    const process = new ProcessMetrics(identity('worker'), { defaultMetrics: false });
    process.upstreamError({ system: 'netbox', kind: 'unreachable' });
    const text = await metricsSource({ process, cluster: clusterMetricsRegistry(fakeDb(rows)) }).render();
    expect(text.endsWith('\n') && !text.endsWith('\n\n')).toBe(true);
    const samples = parseExposition(text);
    expect(sumOf(samples, 'proxbox_intent_upstream_errors_total', { process: 'worker' })).toBe(1);
    expect(sumOf(samples, 'proxbox_intent_pending_deletions')).toBe(4);
  });
});

describe('metrics: helpers', () => {
  it('reads the SDK exporter on loopback when it binds every interface', () => {
    expect(sdkScrapeUrl('0.0.0.0:9464')).toBe('http://127.0.0.1:9464/metrics');
    expect(sdkScrapeUrl('[::]:9464')).toBe('http://[::1]:9464/metrics');
    expect(sdkScrapeUrl('10.0.0.5:9000')).toBe('http://10.0.0.5:9000/metrics');
    expect(() => sdkScrapeUrl('9464')).toThrow();
  });

  it('joins expositions with one blank line and one final newline', () => {
    expect(joinExpositions(['a 1\n', '', 'b 2\n\n'])).toBe('a 1\n\nb 2\n');
  });

  it('the test parser reads escaped label values, +Inf and timestamps', () => {
    expect(parseExposition('# HELP x y\nx{a="q\\"uote",b="back\\\\slash",le="+Inf"} +Inf 1700000000000\ny 2.5')).toEqual([
      { name: 'x', labels: { a: 'q"uote', b: 'back\\slash', le: '+Inf' }, value: Number.POSITIVE_INFINITY },
      { name: 'y', labels: {}, value: 2.5 },
    ]);
  });
});
