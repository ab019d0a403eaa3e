import { createServer } from 'node:net';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, eventually, type Stack } from '../support/stack';
import { requestDeletion, settled } from '../support/deletion-requests';
import { mergeAndWait } from '../support/merges';
import { parseExposition, samplesOf, sumOf, type Sample } from '../support/prometheus';
import { startServiceProcess, type WorkerProcess } from '../support/worker-process';

const METRICS_TOKEN = 'e2e-metrics-token-0123456789';

/** A port nobody listens on right now (the Temporal SDK's exporter must be given one; it cannot report a port 0). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

async function scrape(url: string, token: string | null = METRICS_TOKEN): Promise<{ status: number; text: string; samples: Sample[] }> {
  const res = await fetch(url, { headers: token === null ? {} : { authorization: `Bearer ${token}` } });
  const text = await res.text();
  return { status: res.status, text, samples: res.status === 200 ? parseExposition(text) : [] };
}

const qemu = (vmid: number) => ({ proxmox_vm_id: vmid, proxmox_vm_type: 'qemu', proxmox_node: 'pve01', proxmox_storage: 'local-lvm' });

/** The PostgreSQL-backed samples (no process labels), as `name{labels} value` lines, for comparing two processes. */
const clusterLines = (samples: Sample[]) => samples
  .filter((s) => /^proxbox_intent_(apply_jobs|vm_results|deletion_requests|pending_deletions|deliveries|deletion_decision_latency_seconds)/.test(s.name))
  .map((s) => `${s.name}${JSON.stringify(s.labels)} ${s.value}`).sort();

describe('GET /metrics: Prometheus text that matches what happened', () => {
  let s: Stack;
  let api: WorkerProcess | null = null;
  beforeAll(async () => {
    s = await startStack({ env: { METRICS_TOKEN, WORKER_METRICS_PORT: '0', TEMPORAL_METRICS_ADDRESS: `127.0.0.1:${await freePort()}` } });
  });
  afterAll(async () => {
    api?.signal('SIGKILL');
    await api?.exited;
    await s?.stop();
  });

  it('refuses a scrape without METRICS_TOKEN (401), on the API and on the worker’s listener, and answers with it', async () => {
    const workerUrl = s.system.metrics.workerUrl!;
    expect(workerUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
    for (const url of [`${s.api}/metrics`, workerUrl]) {
      const none = await scrape(url, null);
      expect(none.status, url).toBe(401);
      expect(JSON.parse(none.text)).toMatchObject({ status: 401, code: 'unauthorized' });
      expect(none.text).not.toContain(METRICS_TOKEN);
      expect((await scrape(url, `${METRICS_TOKEN}-wrong`)).status, url).toBe(401);
      const ok = await scrape(url);
      expect(ok.status, url).toBe(200);
      expect(sumOf(ok.samples, 'proxbox_intent_cluster_metrics_up'), url).toBe(1);
      expect(samplesOf(ok.samples, 'proxbox_intent_apply_jobs'), 'a fresh database has no jobs').toHaveLength(0);
      expect(sumOf(ok.samples, 'proxbox_intent_pending_deletions')).toBe(0);
    }
  });

  it('counts applies, per-VM results, deletions, approvals, writes, Proxmox tasks, webhooks and upstream errors exactly', async () => {
    // Two deletions (each its own merge and job), one of them approved by bob and destroyed.
    await requestDeletion(s, { vmid: 651, name: 'retire-651', node: 'pve01', kind: 'qemu' });
    const gone = await requestDeletion(s, { vmid: 652, name: 'retire-652', node: 'pve01', kind: 'qemu' });
    const approved = await s.call(s.tokens.bob, 'POST', `/api/v1/deletion-requests/${gone.request.id}/approve`, { vmid: 652 });
    expect(approved.status).toBe(200);
    expect((await settled(s, gone.request.id)).state).toBe('succeeded');

    // One merge: two creates succeed, one fails on a VMID already in use; proxbox-api's endpoint gate answers 503 once.
    s.proxbox.control.addFault({ method: 'GET', path: '^/proxmox/endpoints/1$', mode: 'fail', status: 503, body: { detail: 'Service Unavailable' }, times: 1 });
    const b = s.netbox.createBranch({ name: 'metrics-mixed', owner: 'bob', customFields: { apply_to_proxmox: true } });
    s.netbox.createVm(b.id, { name: 'metrics-ok-1', cluster: 5, vcpus: '1.00', memory: 512, custom_fields: qemu(391) });
    s.netbox.createVm(b.id, { name: 'metrics-ok-2', cluster: 5, vcpus: '1.00', memory: 512, custom_fields: qemu(392) });
    s.netbox.createVm(b.id, { name: 'metrics-clash', cluster: 5, vcpus: '1.00', memory: 512, custom_fields: qemu(190) });
    const job = await mergeAndWait(s, b.id);
    expect(job.state).toBe('partial');
    const byName = Object.fromEntries(Object.values<any>(job.perVmResults).map((r) => [r.name, r]));
    expect(byName['metrics-clash']).toMatchObject({ status: 'failed', reason: 'vmid_in_use' });
    expect(s.proxbox.control.calls.some((c) => c.path === '/proxmox/endpoints/1' && c.status === 503), 'the fault was met').toBe(true);

    const db = s.system.database.db;
    const rowsOf = (r: unknown) => (Array.isArray(r) ? r : (r as { rows: unknown[] }).rows) as { channel: string; status: string; n: number }[];
    const samples = await eventually(async () => {
      const { samples: now } = await scrape(`${s.api}/metrics`);
      // Write-backs to NetBox go on after the jobs close: wait until they are all delivered and the cache caught up.
      const deliveries = rowsOf(await db.execute(sql`select channel, status, count(*)::int as n from deliveries group by channel, status`));
      const shown = Object.fromEntries(samplesOf(now, 'proxbox_intent_deliveries').map((x) => [`${x.labels.channel}/${x.labels.status}`, x.value]));
      const stored = Object.fromEntries(deliveries.map((d) => [`${d.channel}/${d.status}`, Number(d.n)]));
      const settledDeliveries = deliveries.every((d) => d.status !== 'pending') && JSON.stringify(shown) === JSON.stringify(stored);
      return sumOf(now, 'proxbox_intent_apply_jobs', { state: 'partial' }) === 1 && settledDeliveries ? now : undefined;
    }, 'the scrape to show the partial job and every delivery', 60_000);

    // Shared (PostgreSQL): the same whichever process is scraped, without process labels.
    expect(samplesOf(samples, 'proxbox_intent_apply_jobs').map((x) => [x.labels.state, x.value]).sort()).toEqual([['partial', 1], ['succeeded', 2]]);
    expect(samplesOf(samples, 'proxbox_intent_vm_results').map((x) => [x.labels.status, x.labels.reason, x.value]).sort()).toEqual([
      ['deletion_requested', '', 2], ['failed', 'vmid_in_use', 1], ['succeeded', '', 2],
    ]);
    expect(samplesOf(samples, 'proxbox_intent_deletion_requests').map((x) => [x.labels.state, x.value]).sort()).toEqual([['pending', 1], ['succeeded', 1]]);
    expect(sumOf(samples, 'proxbox_intent_pending_deletions')).toBe(1);
    expect(sumOf(samples, 'proxbox_intent_deletion_decision_latency_seconds_count', { decision: 'approved' })).toBe(1);
    expect(sumOf(samples, 'proxbox_intent_deletion_decision_latency_seconds_bucket', { decision: 'approved', le: '60' }), 'approved within a minute').toBe(1);
    expect(samplesOf(samples, 'proxbox_intent_deletion_decision_latency_seconds_count', { decision: 'rejected' })).toHaveLength(0);
    expect(sumOf(samples, 'proxbox_intent_deliveries')).toBeGreaterThan(0);
    expect(samplesOf(samples, 'proxbox_intent_pending_deletions')[0]!.labels).toEqual({});

    // Per process (this one runs the API and the worker: process="all").
    const mine = { process: 'all', pid: String(process.pid) };
    expect(sumOf(samples, 'proxbox_intent_vm_write_duration_seconds_count', { ...mine, op: 'create', kind: 'qemu', status: 'succeeded' })).toBe(2);
    expect(sumOf(samples, 'proxbox_intent_vm_write_duration_seconds_count', { ...mine, op: 'create', kind: 'qemu', status: 'failed' })).toBe(1);
    // The attempts the 503 ended (the gate's read is shared by concurrent writes, so one or more) are timed as `error`.
    expect(sumOf(samples, 'proxbox_intent_vm_write_duration_seconds_count', { ...mine, status: 'error' })).toBeGreaterThanOrEqual(1);
    expect(sumOf(samples, 'proxbox_intent_proxmox_task_duration_seconds_count', { ...mine, op: 'create', outcome: 'ok' })).toBe(2);
    expect(sumOf(samples, 'proxbox_intent_proxmox_task_duration_seconds_count', { ...mine, op: 'destroy', outcome: 'ok' })).toBe(1);
    expect(sumOf(samples, 'proxbox_intent_proxmox_task_duration_seconds_count', { outcome: 'failed' })).toBe(0);
    expect(sumOf(samples, 'proxbox_intent_netbox_webhooks_total', { ...mine, outcome: 'started' })).toBe(3);
    expect(sumOf(samples, 'proxbox_intent_netbox_webhooks_total')).toBe(3);
    expect(sumOf(samples, 'proxbox_intent_http_requests_total', { method: 'POST', route: '/api/v1/hooks/netbox', status: '202' })).toBe(3);
    expect(sumOf(samples, 'proxbox_intent_http_requests_total', { method: 'POST', route: '/api/v1/deletion-requests/:id/approve', status: '200' })).toBe(1);
    // Every failed call is counted once, by kind: as many as the simulators answered with an error.
    const failedCalls = (calls: { status: number | null }[]) => calls.filter((c) => c.status === null || c.status >= 300).length;
    expect(sumOf(samples, 'proxbox_intent_upstream_errors_total', { system: 'proxbox-api', kind: 'server_error' })).toBeGreaterThanOrEqual(1);
    expect(sumOf(samples, 'proxbox_intent_upstream_errors_total', { system: 'proxbox-api' })).toBe(failedCalls(s.proxbox.control.calls));
    expect(sumOf(samples, 'proxbox_intent_upstream_errors_total', { system: 'netbox' })).toBe(failedCalls(s.netbox.control.calls));
    expect(samplesOf(samples, 'process_cpu_user_seconds_total', mine)).toHaveLength(1);
    expect(await scrape(`${s.api}/metrics`).then((r) => r.text), 'no secret in any label').not.toMatch(/sim-proxbox-key|nbt_simkey|e2e-approval-signing-secret/);
  });

  it('the worker’s listener serves the Temporal SDK’s worker metrics (merged) beside its own histograms', async () => {
    const { status, samples } = await scrape(s.system.metrics.workerUrl!);
    expect(status).toBe(200);
    expect(sumOf(samples, 'proxbox_intent_temporal_sdk_scrape_up')).toBe(1);
    const sdk = samples.filter((x) => x.name.startsWith('temporal_'));
    expect(sdk.length).toBeGreaterThan(0);
    expect(sumOf(samples, 'temporal_activity_execution_latency_count'), 'the SDK timed the activities of the applies').toBeGreaterThan(0);
    expect(sumOf(samples, 'temporal_workflow_completed_total'), 'and counted the completed workflows').toBeGreaterThan(0);
    expect(sumOf(samples, 'proxbox_intent_vm_write_duration_seconds_count', { status: 'succeeded' })).toBe(2);
  });

  it('another process (an API of its own) shows the same PostgreSQL-backed numbers and only its own counters', async () => {
    const port = await freePort();
    api = await startServiceProcess('api', s.env, { PORT: String(port) });
    const theirs = await eventually(async () => {
      const r = await scrape(`http://127.0.0.1:${port}/metrics`);
      return r.status === 200 ? r.samples : undefined;
    }, 'the second API to answer /metrics');
    const ours = (await scrape(`${s.api}/metrics`)).samples;
    expect(clusterLines(theirs)).toEqual(clusterLines(ours));
    expect(clusterLines(theirs).length).toBeGreaterThan(5);
    expect(samplesOf(theirs, 'process_cpu_user_seconds_total', { process: 'api', pid: String(api.pid) })).toHaveLength(1);
    expect(sumOf(theirs, 'proxbox_intent_vm_write_duration_seconds_count'), 'it wrote nothing itself').toBe(0);
    expect(sumOf(theirs, 'proxbox_intent_netbox_webhooks_total')).toBe(0);
    expect((await scrape(`http://127.0.0.1:${port}/metrics`, null)).status).toBe(401);
  });
});
