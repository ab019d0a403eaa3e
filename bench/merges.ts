/**
 * `npm run bench:merges`: many merges at once. 50 branches of 20 VM creates each (BENCH_MERGES, BENCH_VMS_PER_MERGE)
 * are merged within one second (BENCH_MERGE_WINDOW_MS) against one worker, the real Temporal dev server and
 * PostgreSQL, the NetBox and proxbox-api simulators. Prints, per job, how long it waited for its first write and
 * when it finished; whether every VM was created exactly once; and the most Proxmox tasks that ran at once on each
 * node, as the simulated cluster saw them (`maxConcurrentTasksPerNode`, also `GET /_sim/node-concurrency`), against
 * APPLY_MAX_PER_NODE. Prints figures; asserts nothing.
 */
import os from 'node:os';
import { parseEnv } from '../config/env';
import { ApplyJobStore } from '../db/apply-jobs';
import { SettingsStore } from '../db/settings';
import { UserStore } from '../db/users';
import { newSecretKey } from '../domain/secret-box';
import { CONFIRMATION_PHRASE } from '../domain/settings';
import { createFreshDatabase } from '../infra/scratch-database';
import { startTemporalDevServer } from '../infra/temporal-dev-server';
import { SEARCH_ATTRIBUTES } from '../runtime/search-attributes';
import { startSystem } from '../runtime/system';
import { bundleWorkflows, installWorkerRuntime } from '../runtime/worker';
import { createNetboxSimulator } from '../simulators/netbox';
import { createProxboxSimulator } from '../simulators/proxbox-api';
import { seedWritableCluster } from '../simulators/proxbox-api/demo';

const MERGES = Number(process.env.BENCH_MERGES ?? 50);
const PER_MERGE = Number(process.env.BENCH_VMS_PER_MERGE ?? 20);
const NODES = Number(process.env.BENCH_NODES ?? 5);
const PER_NODE = Number(process.env.BENCH_PER_NODE ?? 4);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 16);
const TASK_MS = Number(process.env.BENCH_TASK_MS ?? 300);
const WINDOW_MS = Number(process.env.BENCH_MERGE_WINDOW_MS ?? 1_000);
const FINAL = ['succeeded', 'partial', 'failed'];

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
};
const s1 = (ms: number) => (ms / 1000).toFixed(1);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function main(): Promise<void> {
  installWorkerRuntime('error');
  const temporal = await startTemporalDevServer({ port: 0, headless: true, searchAttributes: SEARCH_ATTRIBUTES, log: () => {} });
  const database = await createFreshDatabase('proxbox_bench_merges');
  const netbox = createNetboxSimulator({ demo: true });
  const nb = await netbox.listen(0);
  const proxbox = createProxboxSimulator({ capabilities: { registerDeletion: true, taskStatus: true }, taskDurationMs: TASK_MS, rateLimitPerMinute: 100_000_000 });
  const nodes = Array.from({ length: NODES }, (_, i) => `pve${String(i + 1).padStart(2, '0')}`);
  seedWritableCluster(proxbox.cluster, 'bench', nodes);
  const pb = await proxbox.listen(0);
  const env = parseEnv({
    PORT: '0', DATABASE_URL: database.url, TEMPORAL_ADDRESS: temporal.address, TEMPORAL_TASK_QUEUE: 'bench-merges',
    NETBOX_URL: nb.url, NETBOX_TOKEN: 'nbt_simkey.simtoken', NETBOX_WEBHOOK_SECRET: 'bench-webhook-secret',
    APPROVAL_SIGNING_SECRET: 'bench-approval-secret-0123456789', APPLY_MAX_CONCURRENCY: String(CONCURRENCY), APPLY_MAX_PER_NODE: String(PER_NODE),
    PROXMOX_TASK_POLL_MS: '100', SECRETS_ENCRYPTION_KEY: newSecretKey(), PROXBOX_API_ALLOW_HTTP: 'true', LOG_LEVEL: 'error',
  });
  const system = await startSystem({ env, role: 'all', bundle: await bundleWorkflows() });
  const db = system.database.db;
  await new UserStore(db).create('alice', ['intent_create_vm', 'view']);
  await new SettingsStore(db).update({ netboxToProxmoxEnabled: true, typedConfirmation: CONFIRMATION_PHRASE }, 'bench');
  await system.endpoints.putBackend({ url: pb.url, apiKey: 'sim-proxbox-key', timeoutMs: 30_000 });
  await system.endpoints.create({ name: 'bench', backendEndpointId: 1, allowWrites: true, clusters: ['5'], isDefault: true });
  netbox.addWebhookTarget({ url: `${system.apiUrl}/api/v1/hooks/netbox`, secret: 'bench-webhook-secret' });

  const branches = Array.from({ length: MERGES }, (_, m) => {
    const branch = netbox.createBranch({ name: `merge-${m}`, owner: 'bob', customFields: { apply_to_proxmox: true } });
    for (let i = 0; i < PER_MERGE; i++) {
      const vmid = 10_000 + m * PER_MERGE + i;
      netbox.createVm(branch.id, {
        name: `m${m}-vm${i}`, cluster: 5, vcpus: '1.00', memory: 512,
        custom_fields: { proxmox_vm_id: vmid, proxmox_vm_type: 'qemu', proxmox_node: nodes[(m + i) % NODES], proxmox_storage: 'local-lvm' },
      });
    }
    return branch;
  });

  // Every merge lands at a random moment of the window; each merge's time is when NetBox merged it.
  const t0 = Date.now();
  const mergedAt = new Map<number, number>();
  await Promise.all(branches.map(async (b) => {
    await sleep(Math.random() * WINDOW_MS);
    mergedAt.set(b.id, Date.now());
    await netbox.mergeBranch(b.id, 'alice');
  }));
  const mergeSpread = Math.max(...mergedAt.values()) - Math.min(...mergedAt.values());

  const jobs = new ApplyJobStore(db);
  const ids = new Map<number, string>();
  for (;;) {
    let final = 0;
    for (const b of branches) {
      const job = (await jobs.list({ branchId: b.id, limit: 1 }))[0];
      if (job) ids.set(b.id, job.id);
      if (job && FINAL.includes(job.state)) final += 1;
    }
    if (final === MERGES) break;
    if (Date.now() - t0 > 30 * 60_000) throw new Error(`only ${final} of ${MERGES} jobs final after 30 min`);
    await sleep(1_000);
  }
  const wall = Date.now() - t0;

  interface JobFigure { merge: number; state: string; ok: number; startDelay: number; firstResult: number; finished: number; firstDispatch: number }
  const figures: JobFigure[] = [];
  for (const [m, b] of branches.entries()) {
    const id = ids.get(b.id)!;
    const job = (await jobs.get(id))!;
    const events = await jobs.eventsAfter(id, 0);
    const at = (type: string) => events.filter((e) => e.type === type).map((e) => e.createdAt.getTime());
    const merged = mergedAt.get(b.id)!;
    const results = await jobs.results(id);
    figures.push({
      merge: m, state: job.state, ok: results.filter((r) => r.status === 'succeeded').length,
      firstDispatch: Math.min(...at('dispatch')), startDelay: Math.min(...at('dispatch')) - merged,
      firstResult: Math.min(...at('result')) - merged, finished: job.finishedAt!.getTime() - merged,
    });
  }
  const creates = proxbox.cluster.pveCalls('POST', /^nodes\/[^/]+\/qemu$/);
  const perVmid = new Map<number, number>();
  for (const c of creates) perVmid.set(Number(c.params.vmid), (perVmid.get(Number(c.params.vmid)) ?? 0) + 1);
  const expected = MERGES * PER_MERGE;
  const once = [...perVmid.values()].filter((n) => n === 1).length;
  const twice = [...perVmid.values()].filter((n) => n > 1).length;
  const guests = proxbox.cluster.listGuests(1).length;
  const concurrency = proxbox.cluster.maxConcurrentTasksPerNode();
  const finishedAbs = figures.map((f) => mergedAt.get(branches[f.merge]!.id)! + f.finished);
  const lastFinish = Math.max(...finishedAbs);
  const firstFinish = Math.min(...finishedAbs);
  // A job "waited for all others" when its first write came after every other job had finished.
  const waitedForAll = figures.filter((f) => figures.every((g) => g === f || mergedAt.get(branches[g.merge]!.id)! + g.finished <= f.firstDispatch)).length;

  const cpu = os.cpus()[0];
  console.log(`proxbox-intent many-merges benchmark — ${new Date().toISOString()}`);
  console.log(`machine: ${os.cpus().length} × ${cpu?.model ?? '?'}, ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB, Node ${process.version}`);
  console.log(`setup: ${MERGES} merges × ${PER_MERGE} VM creates over ${NODES} nodes, merged within ${s1(mergeSpread)} s; one worker; APPLY_MAX_CONCURRENCY=${CONCURRENCY}, APPLY_MAX_PER_NODE=${PER_NODE}; Proxmox tasks take ${TASK_MS} ms`);
  console.log('');
  console.log('| job | state | succeeded | first write after merge (s) | first result (s) | finished after merge (s) |');
  console.log('|---|---|---|---|---|---|');
  for (const f of [...figures].sort((a, b) => a.startDelay - b.startDelay)) {
    console.log(`| merge-${f.merge} | ${f.state} | ${f.ok}/${PER_MERGE} | ${s1(f.startDelay)} | ${s1(f.firstResult)} | ${s1(f.finished)} |`);
  }
  const delays = figures.map((f) => f.startDelay);
  const durations = figures.map((f) => f.finished);
  console.log('');
  console.log('| figure | value |');
  console.log('|---|---|');
  console.log(`| jobs succeeded | ${figures.filter((f) => f.state === 'succeeded').length}/${MERGES} |`);
  console.log(`| VMs succeeded / created in Proxmox / guests on the cluster | ${figures.reduce((n, f) => n + f.ok, 0)} / ${perVmid.size} / ${guests} of ${expected} |`);
  console.log(`| VMIDs created exactly once / more than once | ${once} / ${twice} |`);
  console.log(`| first write after merge: p50 / p90 / max | ${s1(pct(delays, 50))} / ${s1(pct(delays, 90))} / ${s1(Math.max(...delays))} s |`);
  console.log(`| finished after merge: min / p50 / max | ${s1(Math.min(...durations))} / ${s1(pct(durations, 50))} / ${s1(Math.max(...durations))} s |`);
  console.log(`| finish spread (first job done to last job done) | ${s1(lastFinish - firstFinish)} s |`);
  console.log(`| jobs whose first write came after every other job had finished | ${waitedForAll} |`);
  console.log(`| whole run (first merge to last job final) / throughput | ${s1(wall)} s / ${(expected / (wall / 1000)).toFixed(1)} VMs/s |`);
  console.log(`| most Proxmox tasks at once per node (cap ${PER_NODE}) | ${Object.entries(concurrency).map(([n, c]) => `${n.split('/')[1]} ${c}`).join(', ')} |`);

  await system.stop();
  await netbox.close();
  await proxbox.close();
  await database.drop();
  await temporal.stop();
}

main().then(() => process.exit(0), (err: unknown) => { console.error(err); process.exit(1); });
