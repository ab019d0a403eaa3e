/**
 * `npm run bench`: throughput and latency of the ApplyWorkflow against the real Temporal dev server, PostgreSQL
 * and the proxbox-api simulator, compared with a minimal no-op workflow and with a one-by-one sequential apply
 * like the old job-queue plugin, and how one merge scales (BENCH_SCALE: VM counts, each with the worker's memory, the
 * largest payload and the longest history of its runs, after an unmeasured warm-up merge: BENCH_WARMUP_VMS). The
 * worker runs in a process of its own. Prints figures; asserts nothing.
 */
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import { parseEnv } from '../config/env';
import { ProxboxClient } from '../clients/proxbox';
import { APPLY_EVENTS_CHANNEL, ApplyJobStore } from '../db/apply-jobs';
import { DeliveryStore } from '../db/deliveries';
import { SettingsStore } from '../db/settings';
import { UserStore } from '../db/users';
import { CONFIRMATION_PHRASE } from '../domain/settings';
import { startTemporalDevServer } from '../infra/temporal-dev-server';
import { SEARCH_ATTRIBUTES } from '../runtime/search-attributes';
import { startSystem } from '../runtime/system';
import { newSecretKey } from '../domain/secret-box';
import { installWorkerRuntime } from '../runtime/worker';
import { createNetboxSimulator } from '../simulators/netbox';
import { spawn, type ChildProcess } from 'node:child_process';
import type { MemoryPeak } from './worker-process';
import { createFreshDatabase } from '../infra/scratch-database';
import { cpuPerUnit, cpuSnapshot, type CpuSnapshot } from './cpu';

const VMS = Number(process.env.BENCH_VMS ?? 500);
const NODES = Number(process.env.BENCH_NODES ?? 5);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 50);
const PER_NODE = Number(process.env.BENCH_PER_NODE ?? 10);
const SLOW_MS = Number(process.env.BENCH_SIM_LATENCY_MS ?? 200);
const SEQUENTIAL_SAMPLE = Number(process.env.BENCH_SEQUENTIAL_SAMPLE ?? 50);
/** VM counts of the scale table (simulator instant); BENCH_VMS is always one of them. */
const SCALE = [...new Set([...(process.env.BENCH_SCALE ?? '500').split(',').map(Number).filter((n) => n > 0), VMS])].sort((a, b) => a - b);
/** VMs of the slow-simulator run and activities of the no-op workflow (at most 2,000 by default: rates, not totals). */
const COMPARE_VMS = Number(process.env.BENCH_COMPARE_VMS ?? Math.min(VMS, 2000));
/** VMs of the unmeasured merge the worker runs first (0: none). */
const WARMUP_VMS = Number(process.env.BENCH_WARMUP_VMS ?? 3000);
/** Temporal's warning level for one payload. */
const PAYLOAD_WARN_BYTES = 512 * 1024;

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
};
const fmt = (n: number, d = 1) => n.toFixed(d);
const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MiB`;
const kib = (bytes: number) => `${(bytes / 1024).toFixed(1)} KiB`;

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
  const system = await startSystem({ env, role: 'api' });
  const db = system.database.db;
  await new UserStore(db).create('alice', ['intent_create_vm', 'view']);
  await new SettingsStore(db).update({ netboxToProxmoxEnabled: true, typedConfirmation: CONFIRMATION_PHRASE }, 'bench');
  const endpoints = system.endpoints;
  await endpoints.putBackend({ url: pb.url, apiKey: 'sim-proxbox-key', timeoutMs: 30_000 });
  await endpoints.create({ name: 'bench', backendEndpointId: 1, allowWrites: true, clusters: ['5'], isDefault: true });
  netbox.addWebhookTarget({ url: `${system.apiUrl}/api/v1/hooks/netbox`, secret: 'bench-webhook-secret' });
  const workerEnv = {
    DATABASE_URL: database.url, TEMPORAL_ADDRESS: temporal.address, TEMPORAL_TASK_QUEUE: 'bench-apply', NETBOX_URL: nb.url, NETBOX_TOKEN: 'nbt_simkey.simtoken',
    APPROVAL_SIGNING_SECRET: 'bench-approval-secret-0123456789', SECRETS_ENCRYPTION_KEY: env.SECRETS_ENCRYPTION_KEY!, PROXBOX_API_ALLOW_HTTP: 'true',
    APPLY_MAX_CONCURRENCY: String(CONCURRENCY), APPLY_MAX_PER_NODE: String(PER_NODE), PROXMOX_TASK_POLL_MS: '100', LOG_LEVEL: 'error',
    ...(process.env.APPLY_ITEMS_PER_RUN ? { APPLY_ITEMS_PER_RUN: process.env.APPLY_ITEMS_PER_RUN } : {}),
    ...Object.fromEntries(['BENCH_HEAP_TRACE', 'BENCH_HEAP_SNAPSHOT_MIB'].flatMap((k) => (process.env[k] ? [[k, process.env[k]!]] : []))),
  };
  const worker = await startWorkerProcess(workerEnv);

  const cpu = () => cpuSnapshot({ 'worker process': worker.pid, 'Temporal dev server': temporal.pid, 'proxbox-api simulator': pb.pid }, 'API, NetBox simulator, benchmark');
  const runApply = async (label: string, firstVmid: number, count: number) => {
    const branch = netbox.createBranch({ name: label, owner: 'bob', customFields: { apply_to_proxmox: true } });
    for (let i = 0; i < count; i++) {
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
    // The worker's memory while it plans (up to the first dispatch), then while it applies.
    let planMemory: Promise<MemoryPeak> | null = null;
    const unlisten = await system.database.listen(APPLY_EVENTS_CHANNEL, () => {
      announced += 1;
      if (announced === 2) {
        cpuAtFirstDispatch = cpu();
        // No forced full collection while merges run: V8 would size the heap's next limit from it (up to four times
        // what survives), which is the benchmark's doing, not the worker's.
        planMemory = worker.peak(false).then((peak) => { worker.resetPeak(); return peak; });
      }
      if (announced === 1 + 2 * count) cpuAtLastResult = cpu();
    });
    worker.resetPeak();
    await netbox.mergeBranch(branch.id, 'alice');
    const jobs = new ApplyJobStore(db);
    const started = Date.now();
    let job;
    for (;;) {
      job = (await jobs.list({ branchId: branch.id, limit: 1 }))[0];
      if (job && ['succeeded', 'partial', 'failed'].includes(job.state)) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    const applyMemory = await worker.peak(false);
    const plan = await (planMemory ?? applyMemory);
    const memory = {
      ...applyMemory, rssBytes: Math.max(plan.rssBytes, applyMemory.rssBytes), planHeapUsedBytes: plan.heapUsedBytes,
      liveHeapBytes: Math.max(plan.liveHeapBytes, applyMemory.liveHeapBytes),
    };
    // The job's NetBox write-back (an entry and a stamp per VM) is delivered before the next merge starts.
    await waitForWritebacks(job.id);
    await unlisten();
    const events = await jobs.eventsAfter(job.id, 0);
    const at = (type: string) => events.filter((e) => e.type === type).map((e) => e.createdAt.getTime());
    const first = Math.min(...at('dispatch'));
    const last = Math.max(...at('result'));
    const whole = (events.at(-1)!.createdAt.getTime() - events[0]!.createdAt.getTime()) / 1000;
    const dispatched = new Map(events.filter((e) => e.type === 'dispatch').map((e) => [(e.data as { key: string }).key, e.createdAt.getTime()]));
    const latencies = events.filter((e) => e.type === 'result').map((e) => e.createdAt.getTime() - (dispatched.get((e.data as { key: string }).key) ?? e.createdAt.getTime()));
    const results = await jobs.results(job.id);
    const cpuPerVm = cpuAtFirstDispatch && cpuAtLastResult ? cpuPerUnit(cpuAtFirstDispatch, cpuAtLastResult, count) : ['    (not sampled)'];
    const chain = await chainFigures(temporalClient, job.workflowId);
    return {
      vms: count, state: job.state, seconds: (last - first) / 1000, whole, wallSeconds: (Date.now() - started) / 1000, latencies,
      ok: results.filter((r) => r.status === 'succeeded').length, cpuPerVm, memory, chain,
    };
  };
  const temporalClient = new Client({ connection: await Connection.connect({ address: temporal.address }) });
  const deliveries = new DeliveryStore(db);
  const waitForWritebacks = async (jobId: string) => {
    for (const until = Date.now() + 15 * 60_000; Date.now() < until;) {
      if ((await deliveries.summary('apply_job', jobId)).pending === 0) return;
      await new Promise((r) => setTimeout(r, 1000));
    }
  };

  // The worker runs one merge first, unmeasured, so every measured merge finds its heap sized by V8 from what the
  // worker really keeps (a fresh process collects for the first time only near V8's initial limit, ~250-400 MiB).
  const warmup = WARMUP_VMS > 0 ? await runApply('bench-warmup', 900_000, WARMUP_VMS) : null;
  // VMIDs: each run its own range of 100,000.
  const scale: Awaited<ReturnType<typeof runApply>>[] = [];
  for (const [i, n] of SCALE.entries()) scale.push(await runApply(`bench-${n}`, 1_000_000 + i * 100_000, n));
  // What the worker holds once every merge is done: the one forced full collection, after the measured merges.
  const retainedHeapBytes = (await worker.peak(true)).retainedHeapBytes;
  const fast = scale.find((r) => r.vms === VMS)!;
  await slowApply();
  const slow = await runApply('bench-slow', 2_000_000, COMPARE_VMS);
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
    await client.workflow.execute('NoopFanOutWorkflow', { taskQueue: 'bench-noop', workflowId: `bench-noop-${Date.now()}`, args: [COMPARE_VMS, CONCURRENCY] });
    return (Date.now() - t0) / 1000;
  });
  const noopCpu = cpuPerUnit(beforeNoop, cpu(), COMPARE_VMS);
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
  const slowRate = COMPARE_VMS / slow.seconds;
  const noopRate = COMPARE_VMS / noopSeconds;
  const cpuModel = os.cpus()[0];
  console.log(`proxbox-intent apply benchmark — ${new Date().toISOString()}`);
  console.log(`machine: ${os.cpus().length} × ${cpuModel?.model ?? '?'}, ${fmt(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}, ${os.platform()} ${os.release()}`);
  console.log(`settings: ${VMS} VM creates over ${NODES} nodes, APPLY_MAX_CONCURRENCY=${CONCURRENCY}, APPLY_MAX_PER_NODE=${PER_NODE}, APPLY_ITEMS_PER_RUN=${process.env.APPLY_ITEMS_PER_RUN ?? 'default'}, one worker process, Temporal dev server (in memory), PostgreSQL ${database.url.replace(/\/\/[^@]*@/, '//')}`);
  console.log('');
  console.log(`one merge at scale (simulator instant, ${NODES} nodes); worker RSS and heap are peaks sampled every 100 ms in the worker process, while it plans (to the first dispatch) and while it applies; live heap is the most a full collection left during the merge (what the worker really held; — when none ran):`);
  const header = ['VMs', 'succeeded', 'VMs/s', 'p50 ms', 'p99 ms', 'whole run s', 'runs', 'longest history', 'largest payload', 'worker RSS', 'heap planning', 'heap applying', 'vs first', 'live heap'];
  const rows = scale.map((r) => [
    String(r.vms), `${r.ok}/${r.vms}`, fmt(r.vms / r.seconds), String(pct(r.latencies, 50)), String(pct(r.latencies, 99)), fmt(r.whole, 1), String(r.chain.runs),
    `${r.chain.longestHistory} events`, kib(r.chain.largestPayloadBytes), mib(r.memory.rssBytes), mib(r.memory.planHeapUsedBytes), mib(r.memory.heapUsedBytes),
    `${fmt(r.memory.heapUsedBytes / scale[0]!.memory.heapUsedBytes, 2)}×`, r.memory.liveHeapBytes ? mib(r.memory.liveHeapBytes) : '—',
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  for (const row of [header, ...rows]) console.log(`  ${row.map((c, i) => c.padStart(widths[i]!)).join(' | ')}`);
  const largest = Math.max(...scale.map((r) => r.chain.largestPayloadBytes));
  const biggest = scale.at(-1)!;
  const first = scale[0]!;
  // A merge too short for V8 to collect in it has no live figure: compare with the smallest that has one.
  const liveBase = scale.find((r) => r.memory.liveHeapBytes > 0);
  const within = (a: number, b: number) => `${fmt(a / b, 2)}× (≤ 1.5: ${a <= 1.5 * b ? 'yes' : 'NO'})`;
  console.log(`  targets: every VM succeeded ${scale.every((r) => r.ok === r.vms) ? 'yes' : 'NO'}; largest payload ${kib(largest)} (≤ 512 KiB: ${largest <= PAYLOAD_WARN_BYTES ? 'yes' : 'NO'}); ` +
    `worker heap at ${biggest.vms} VMs against ${first.vms}: applying ${within(biggest.memory.heapUsedBytes, first.memory.heapUsedBytes)}, ` +
    `live ${liveBase ? `${within(biggest.memory.liveHeapBytes, liveBase.memory.liveHeapBytes)} against ${liveBase.vms}` : '—'}, planning ${within(biggest.memory.planHeapUsedBytes, first.memory.planHeapUsedBytes)}`);
  console.log(`  worker heap after a full collection once every merge above is done: ${mib(retainedHeapBytes)}` +
    (warmup ? `; before them, an unmeasured warm-up merge of ${warmup.vms} VMs (heap applying ${mib(warmup.memory.heapUsedBytes)}, live ${warmup.memory.liveHeapBytes ? mib(warmup.memory.liveHeapBytes) : '—'})` : ''));
  console.log('');
  console.log(`apply, simulator instant:       ${fmt(fastRate)} VMs/s (first dispatch to last result ${fmt(fast.seconds, 2)} s; whole run with plan and drift read-back ${fmt(fast.whole, 2)} s; job ${fast.state}, ${fast.ok}/${VMS} succeeded); per-VM latency p50 ${pct(fast.latencies, 50)} ms, p99 ${pct(fast.latencies, 99)} ms`);
  console.log(`no-op workflow, same fan-out:   ${fmt(noopRate)} activities/s (${COMPARE_VMS} activities in ${fmt(noopSeconds, 2)} s)`);
  console.log(`  ratio apply / no-op:          ${fmt(fastRate / noopRate, 2)} (target ≥ 0.70)`);
  console.log('  CPU per VM, apply (simulator instant), first dispatch to last result:');
  for (const line of fast.cpuPerVm) console.log(line);
  console.log('  CPU per activity, no-op workflow:');
  for (const line of noopCpu) console.log(line);
  console.log(`apply, simulator ${SLOW_MS} ms:        ${fmt(slowRate)} VMs/s (${COMPARE_VMS} VMs in ${fmt(slow.seconds, 2)} s; whole run ${fmt(slow.whole, 2)} s; job ${slow.state}); per-VM latency p50 ${pct(slow.latencies, 50)} ms, p99 ${pct(slow.latencies, 99)} ms`);
  console.log(`sequential (old plugin), ${SLOW_MS} ms: ${fmt(sequentialRate, 2)} VMs/s (measured over ${SEQUENTIAL_SAMPLE} VMs)`);
  console.log(`  ratio apply / sequential:     ${fmt(slowRate / sequentialRate, 1)} (target ≥ 10)`);

  await worker.stop();
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

interface WorkerProcess {
  pid: number | null;
  resetPeak(): void;
  /** The peaks since the last reset; `collect`: with the heap left after a full collection (which changes the heap's next limit). */
  peak(collect: boolean): Promise<MemoryPeak>;
  stop(): Promise<void>;
}

/** The worker (bench/worker-process.ts) in a process of its own, with its memory peaks over IPC. */
async function startWorkerProcess(env: Record<string, string>): Promise<WorkerProcess> {
  const child: ChildProcess = spawn(process.execPath, ['--expose-gc', '--import', 'tsx', fileURLToPath(new URL('./worker-process.ts', import.meta.url))], {
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  await new Promise<void>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`the worker process exited (${code})`)));
    child.once('message', (m) => (m === 'ready' ? resolve() : reject(new Error(`unexpected message from the worker: ${JSON.stringify(m)}`))));
  });
  child.removeAllListeners('exit');
  return {
    pid: child.pid ?? null,
    resetPeak: () => { child.send('reset'); },
    peak: (collect) => new Promise((resolve) => {
      child.once('message', (m) => resolve((m as { peak: MemoryPeak }).peak));
      child.send(collect ? 'peak' : 'peek');
    }),
    stop: () => new Promise((resolve) => {
      child.once('exit', () => resolve());
      child.send('stop');
    }),
  };
}

/**
 * Every run of one workflow id (a chain of continue-as-new): how many, the most events one run's history holds, and
 * the largest payload any event carries (an activity's input or result, a workflow's input, a continuation's input).
 */
async function chainFigures(client: Client, workflowId: string): Promise<{ runs: number; longestHistory: number; largestPayloadBytes: number }> {
  let runs = 0;
  let longestHistory = 0;
  let largestPayloadBytes = 0;
  for await (const run of client.workflow.list({ query: `WorkflowId = '${workflowId}'` })) {
    runs += 1;
    const history = await client.workflow.getHandle(workflowId, run.runId).fetchHistory();
    longestHistory = Math.max(longestHistory, history.events?.length ?? 0);
    largestPayloadBytes = Math.max(largestPayloadBytes, largestPayloads(history.events ?? []));
  }
  return { runs, longestHistory, largestPayloadBytes };
}

/** The size of the largest `payloads` list (what Temporal's payload limits apply to) anywhere in these events. */
function largestPayloads(value: unknown): number {
  if (Array.isArray(value)) return Math.max(0, ...value.map(largestPayloads));
  if (!value || typeof value !== 'object' || value instanceof Uint8Array) return 0;
  let largest = 0;
  for (const [key, v] of Object.entries(value)) {
    if (key === 'payloads' && Array.isArray(v)) largest = Math.max(largest, v.reduce((sum: number, p: { data?: Uint8Array | null; metadata?: Record<string, Uint8Array> | null }) =>
      sum + (p.data?.length ?? 0) + Object.entries(p.metadata ?? {}).reduce((m, [k, b]) => m + k.length + b.length, 0), 0));
    else largest = Math.max(largest, largestPayloads(v));
  }
  return largest;
}

main().then(() => process.exit(0), (err: unknown) => { console.error(err); process.exit(1); });
