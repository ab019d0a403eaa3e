/**
 * `npm run bench`: throughput and latency of the ApplyWorkflow against the real Temporal dev server, PostgreSQL
 * and the proxbox-api simulator, compared with a minimal no-op workflow and with a one-by-one sequential apply
 * like the old job-queue plugin. Prints figures; asserts nothing.
 */
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import { parseEnv } from '../config/env';
import { ProxboxClient } from '../clients/proxbox';
import { APPLY_EVENTS_CHANNEL, ApplyJobStore } from '../db/apply-jobs';
import { SettingsStore } from '../db/settings';
import { UserStore } from '../db/users';
import { CONFIRMATION_PHRASE } from '../domain/settings';
import { startTemporalDevServer } from '../infra/temporal-dev-server';
import { SEARCH_ATTRIBUTES } from '../runtime/search-attributes';
import { startSystem } from '../runtime/system';
import { newSecretKey } from '../domain/secret-box';
import { bundleWorkflows, installWorkerRuntime } from '../runtime/worker';
import { createNetboxSimulator } from '../simulators/netbox';
import { spawn } from 'node:child_process';
import { createFreshDatabase } from '../infra/scratch-database';
import { cpuPerUnit, cpuSnapshot, type CpuSnapshot } from './cpu';

const VMS = Number(process.env.BENCH_VMS ?? 500);
const NODES = Number(process.env.BENCH_NODES ?? 5);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 50);
const PER_NODE = Number(process.env.BENCH_PER_NODE ?? 10);
const SLOW_MS = Number(process.env.BENCH_SIM_LATENCY_MS ?? 200);
const SEQUENTIAL_SAMPLE = Number(process.env.BENCH_SEQUENTIAL_SAMPLE ?? 50);

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
};
const fmt = (n: number, d = 1) => n.toFixed(d);

async function main() {
  installWorkerRuntime('error');
  const temporal = await startTemporalDevServer({ port: 0, headless: true, searchAttributes: SEARCH_ATTRIBUTES, log: () => {} });
  const database = await createFreshDatabase('proxbox_bench');
  const netbox = createNetboxSimulator({ demo: true });
  // proxbox-api is another system: its simulator runs in a process of its own, seeded over its /_sim routes.
  const pb = await startProxboxProcess();
  const sim = (method: string, path: string, body?: unknown) => fetch(`${pb.url}/_sim${path}`, {
    method, headers: { 'content-type': 'application/json' }, ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  }).then(async (r) => { if (!r.ok) throw new Error(`${method} /_sim${path}: ${r.status} ${await r.text()}`); });
  await sim('POST', '/endpoints', { id: 1, name: 'bench', cluster: 'bench-cluster', enabled: true, allow_writes: true });
  const nodes = Array.from({ length: NODES }, (_, i) => `pve${String(i + 1).padStart(2, '0')}`);
  for (const node of nodes) {
    await sim('POST', '/nodes', { endpointId: 1, name: node });
    await sim('POST', '/storages', { endpointId: 1, node, storage: 'local-lvm', content: ['images', 'rootdir'] });
  }
  const slowApply = () => sim('POST', '/faults', { method: 'POST', path: '^/intent/apply$', mode: 'slow', delayMs: SLOW_MS });
  const nb = await netbox.listen(0);
  const env = parseEnv({
    PORT: '0', DATABASE_URL: database.url, TEMPORAL_ADDRESS: temporal.address, TEMPORAL_TASK_QUEUE: 'bench-apply',
    NETBOX_URL: nb.url, NETBOX_TOKEN: 'nbt_simkey.simtoken', NETBOX_WEBHOOK_SECRET: 'bench-webhook-secret',
    APPROVAL_SIGNING_SECRET: 'bench-approval-secret-0123456789', APPLY_MAX_CONCURRENCY: String(CONCURRENCY), APPLY_MAX_PER_NODE: String(PER_NODE),
    SECRETS_ENCRYPTION_KEY: newSecretKey(), PROXBOX_API_ALLOW_HTTP: 'true',
  });
  const bundle = await bundleWorkflows();
  const system = await startSystem({ env: { ...env, PROXMOX_TASK_POLL_MS: 100 }, role: 'all', bundle });
  const db = system.database.db;
  await new UserStore(db).create('alice', ['intent_create_vm', 'view']);
  await new SettingsStore(db).update({ netboxToProxmoxEnabled: true, typedConfirmation: CONFIRMATION_PHRASE }, 'bench');
  const endpoints = system.endpoints;
  await endpoints.putBackend({ url: pb.url, apiKey: 'sim-proxbox-key', timeoutMs: 30_000 });
  await endpoints.create({ name: 'bench', backendEndpointId: 1, allowWrites: true, clusters: ['5'], isDefault: true });
  netbox.addWebhookTarget({ url: `${system.apiUrl}/api/v1/hooks/netbox`, secret: 'bench-webhook-secret' });

  const cpu = () => cpuSnapshot({ 'Temporal dev server': temporal.pid, 'proxbox-api simulator': pb.pid });
  const runApply = async (label: string, firstVmid: number) => {
    const branch = netbox.createBranch({ name: label, owner: 'bob', customFields: { apply_to_proxmox: true } });
    for (let i = 0; i < VMS; i++) {
      netbox.createVm(branch.id, {
        name: `${label}-${i}`, cluster: 5, vcpus: '1.00', memory: 512,
        custom_fields: { proxmox_vm_id: firstVmid + i, proxmox_vm_type: 'qemu', proxmox_node: nodes[i % NODES], proxmox_storage: 'local-lvm' },
      });
    }
    // CPU is sampled at the first dispatch and at the last result, the window the throughput is measured over. The
    // live-log NOTIFYs tell when (plan_summary, then a dispatch and a result per VM), so nothing polls meanwhile.
    let cpuAtFirstDispatch: CpuSnapshot | null = null;
    let cpuAtLastResult: CpuSnapshot | null = null;
    let announced = 0;
    const unlisten = await system.database.listen(APPLY_EVENTS_CHANNEL, () => {
      announced += 1;
      if (announced === 2) cpuAtFirstDispatch = cpu();
      if (announced === 1 + 2 * VMS) cpuAtLastResult = cpu();
    });
    await netbox.mergeBranch(branch.id, 'alice');
    const jobs = new ApplyJobStore(db);
    const started = Date.now();
    let job;
    for (;;) {
      job = (await jobs.list({ branchId: branch.id, limit: 1 }))[0];
      if (job && ['succeeded', 'partial', 'failed'].includes(job.state)) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    await unlisten();
    const events = await jobs.eventsAfter(job.id, 0);
    const at = (type: string) => events.filter((e) => e.type === type).map((e) => e.createdAt.getTime());
    const first = Math.min(...at('dispatch'));
    const last = Math.max(...at('result'));
    const whole = (events.at(-1)!.createdAt.getTime() - events[0]!.createdAt.getTime()) / 1000;
    const dispatched = new Map(events.filter((e) => e.type === 'dispatch').map((e) => [(e.data as { key: string }).key, e.createdAt.getTime()]));
    const latencies = events.filter((e) => e.type === 'result').map((e) => e.createdAt.getTime() - (dispatched.get((e.data as { key: string }).key) ?? e.createdAt.getTime()));
    const results = await jobs.results(job.id);
    const cpuPerVm = cpuAtFirstDispatch && cpuAtLastResult ? cpuPerUnit(cpuAtFirstDispatch, cpuAtLastResult, VMS) : ['    (not sampled)'];
    return { state: job.state, seconds: (last - first) / 1000, whole, wallSeconds: (Date.now() - started) / 1000, latencies, ok: results.filter((r) => r.status === 'succeeded').length, cpuPerVm };
  };

  const fast = await runApply('bench-fast', 10_000);
  await slowApply();
  const slow = await runApply('bench-slow', 20_000);
  await sim('DELETE', '/faults');

  // The floor: the same number of activities doing nothing, same fan-out, same server, its own worker.
  const connection = await NativeConnection.connect({ address: temporal.address });
  const noopWorker = await Worker.create({
    connection, taskQueue: 'bench-noop', workflowsPath: fileURLToPath(new URL('./noop-workflow.ts', import.meta.url)),
    activities: { noop: async (i: number) => i }, maxConcurrentActivityTaskExecutions: 64,
  });
  const client = new Client({ connection: await Connection.connect({ address: temporal.address }) });
  const beforeNoop = cpu();
  const noopSeconds = await noopWorker.runUntil(async () => {
    const t0 = Date.now();
    await client.workflow.execute('NoopFanOutWorkflow', { taskQueue: 'bench-noop', workflowId: `bench-noop-${Date.now()}`, args: [VMS, CONCURRENCY] });
    return (Date.now() - t0) / 1000;
  });
  const noopCpu = cpuPerUnit(beforeNoop, cpu(), VMS);
  await connection.close();

  // The old plugin's shape: one RQ job, one VM after another, each waiting for proxbox-api (200 ms here).
  await slowApply();
  const sequentialClient = new ProxboxClient({ baseUrl: pb.url, apiKey: 'sim-proxbox-key' });
  const t0 = Date.now();
  for (let i = 0; i < SEQUENTIAL_SAMPLE; i++) {
    await sequentialClient.apply(1, { run_uuid: `seq-${i}`, diffs: [{ op: 'create', kind: 'qemu', netbox_id: 90_000 + i, payload: { vmid: 30_000 + i, node: nodes[i % NODES]!, name: `seq-${i}`, cores: 1, memory_mib: 512 } }] });
  }
  const sequentialRate = SEQUENTIAL_SAMPLE / ((Date.now() - t0) / 1000);

  const fastRate = VMS / fast.seconds;
  const slowRate = VMS / slow.seconds;
  const noopRate = VMS / noopSeconds;
  const cpuModel = os.cpus()[0];
  console.log(`proxbox-intent apply benchmark — ${new Date().toISOString()}`);
  console.log(`machine: ${os.cpus().length} × ${cpuModel?.model ?? '?'}, ${fmt(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}, ${os.platform()} ${os.release()}`);
  console.log(`settings: ${VMS} VM creates over ${NODES} nodes, APPLY_MAX_CONCURRENCY=${CONCURRENCY}, APPLY_MAX_PER_NODE=${PER_NODE}, one worker, Temporal dev server (in memory), PostgreSQL ${database.url.replace(/\/\/[^@]*@/, '//')}`);
  console.log('');
  console.log(`apply, simulator instant:       ${fmt(fastRate)} VMs/s (first dispatch to last result ${fmt(fast.seconds, 2)} s; whole run with plan and drift read-back ${fmt(fast.whole, 2)} s; job ${fast.state}, ${fast.ok}/${VMS} succeeded); per-VM latency p50 ${pct(fast.latencies, 50)} ms, p99 ${pct(fast.latencies, 99)} ms`);
  console.log(`no-op workflow, same fan-out:   ${fmt(noopRate)} activities/s (${fmt(noopSeconds, 2)} s)`);
  console.log(`  ratio apply / no-op:          ${fmt(fastRate / noopRate, 2)} (target ≥ 0.70)`);
  console.log('  CPU per VM, apply (simulator instant), first dispatch to last result:');
  for (const line of fast.cpuPerVm) console.log(line);
  console.log('  CPU per activity, no-op workflow:');
  for (const line of noopCpu) console.log(line);
  console.log(`apply, simulator ${SLOW_MS} ms:        ${fmt(slowRate)} VMs/s (${fmt(slow.seconds, 2)} s; whole run ${fmt(slow.whole, 2)} s; job ${slow.state}); per-VM latency p50 ${pct(slow.latencies, 50)} ms, p99 ${pct(slow.latencies, 99)} ms`);
  console.log(`sequential (old plugin), ${SLOW_MS} ms: ${fmt(sequentialRate, 2)} VMs/s (measured over ${SEQUENTIAL_SAMPLE} VMs)`);
  console.log(`  ratio apply / sequential:     ${fmt(slowRate / sequentialRate, 1)} (target ≥ 10)`);

  await system.stop();
  await netbox.close();
  pb.stop();
  await database.drop();
  await temporal.stop();
}

async function startProxboxProcess(): Promise<{ url: string; pid: number | null; stop(): void }> {
  const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(new URL('../simulators/proxbox-api/main.ts', import.meta.url))], {
    env: { ...process.env, PROXBOX_SIM_PORT: '0', PROXBOX_SIM_RATE_LIMIT: '1000000', PROXBOX_SIM_CAPABILITIES: 'registerDeletion,taskStatus' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const url = await new Promise<string>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`the proxbox-api simulator exited (${code})`)));
    child.stdout!.on('data', (chunk: Buffer) => {
      const m = /listening on (\S+)/.exec(chunk.toString());
      if (m) resolve(m[1]!);
    });
  });
  return { url, pid: child.pid ?? null, stop: () => child.kill('SIGTERM') };
}

main().then(() => process.exit(0), (err: unknown) => { console.error(err); process.exit(1); });
