/**
 * `npm run bench:deletions`: 10,000 pending DeletionWorkflows on one worker, against a real Temporal dev server and
 * PostgreSQL. Prints the worker's memory before and after (the worker runs in a child process of its own, so its
 * figures are not mixed with the API's; the proxbox-api simulator has a process of its own too), the time to create the requests, and the p50/p99
 * latency of `GET /api/v1/deletion-requests` and of an approval. Prints figures; asserts nothing.
 *
 * BENCH_DELETIONS (default 10000), BENCH_LIST_SAMPLES (300), BENCH_APPROVALS (200), BENCH_START_LANES (32).
 */
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { count, eq, inArray } from 'drizzle-orm';
import { parseEnv } from '../config/env';
import { DeletionRequestStore } from '../db/deletion-requests';
import { deletionRequests } from '../db/schema';
import { SettingsStore } from '../db/settings';
import { UserStore } from '../db/users';
import { deletionExpiresAt } from '../domain/deletion-rules';
import { applyRunIdFromMs, deletionRequestWorkflowId } from '../domain/run-identity';
import { CONFIRMATION_PHRASE } from '../domain/settings';
import { startTemporalDevServer } from '../infra/temporal-dev-server';
import { SEARCH_ATTRIBUTES } from '../runtime/search-attributes';
import { startSystem } from '../runtime/system';
import { newSecretKey } from '../domain/secret-box';
import { bundleWorkflows, installWorkerRuntime } from '../runtime/worker';
import { createNetboxSimulator } from '../simulators/netbox';
import { createProxboxSimulator } from '../simulators/proxbox-api';
import { createFreshDatabase } from '../infra/scratch-database';
import type { DeletionWorkflowInput } from '../workflows/types';
import { SA_BRANCH, SA_KIND, SA_STATE, SA_USER, SA_VMIDS } from '../workflows/definitions';

const N = Number(process.env.BENCH_DELETIONS ?? 10_000);
const LIST_SAMPLES = Number(process.env.BENCH_LIST_SAMPLES ?? 300);
const APPROVALS = Number(process.env.BENCH_APPROVALS ?? 200);
const LANES = Number(process.env.BENCH_START_LANES ?? 32);
const NODES = ['pve01', 'pve02', 'pve03', 'pve04'];
const SCHEMA = 'benchdel';
const FIRST_VMID = 100_000;

interface Memory { rss: number; heapUsed: number; heapTotal: number; external: number }

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
};
const mib = (n: number) => `${(n / 2 ** 20).toFixed(1)} MiB`;
const fmt = (n: number, d = 1) => n.toFixed(d);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The worker alone, as `npm run start:worker` would run it; answers memory probes over IPC (after a full GC). */
async function workerProcess(): Promise<void> {
  const env = parseEnv(process.env);
  const bundle = { code: readFileSync(process.env.BENCH_BUNDLE_PATH!, 'utf8') };
  const system = await startSystem({ env, role: 'worker', bundle });
  process.on('message', (msg: { probe?: string; stop?: boolean }) => {
    if (msg.stop) {
      void system.stop().then(() => process.exit(0));
      return;
    }
    (globalThis as { gc?: () => void }).gc?.();
    const m = process.memoryUsage();
    process.send!({ probe: msg.probe, memory: { rss: m.rss, heapUsed: m.heapUsed, heapTotal: m.heapTotal, external: m.external } });
  });
  process.send!({ ready: true });
}

/** proxbox-api with N guests, in a process of its own so its work does not slow the API being measured. */
async function simulatorProcess(): Promise<void> {
  const proxbox = createProxboxSimulator({ capabilities: { registerDeletion: true, taskStatus: true }, taskDurationMs: 0, rateLimitPerMinute: 10_000_000 });
  proxbox.cluster.addEndpoint({ id: 1, name: 'bench', cluster: 'bench-cluster', enabled: true, allow_writes: true });
  for (const node of NODES) proxbox.cluster.addNode({ endpointId: 1, name: node });
  for (let i = 0; i < N; i++) {
    proxbox.cluster.addGuest({ endpointId: 1, vmid: FIRST_VMID + i, node: NODES[i % NODES.length]!, type: 'qemu', name: `old-${i}`, status: 'stopped', cores: 1, memory: 512 });
  }
  const server = await proxbox.listen(0);
  process.on('message', (msg: { stop?: boolean }) => {
    if (msg.stop) void proxbox.close().then(() => process.exit(0));
  });
  process.send!({ url: server.url });
}

function spawnChild(mode: string, env: Record<string, string>, execArgv: string[] = []): { child: ChildProcess; ready: Promise<Record<string, unknown>> } {
  const child = fork(fileURLToPath(import.meta.url), [mode], {
    execArgv: ['--import', 'tsx', ...execArgv], env: { ...process.env, ...env }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const ready = new Promise<Record<string, unknown>>((resolve, reject) => {
    child.once('message', (msg) => resolve(msg as Record<string, unknown>));
    child.once('exit', (code) => reject(new Error(`${mode} exited with ${code}`)));
  });
  return { child, ready };
}

function probe(child: ChildProcess, label: string): Promise<Memory> {
  return new Promise((resolve) => {
    const onMessage = (msg: { probe?: string; memory?: Memory }) => {
      if (msg.probe !== label || !msg.memory) return;
      child.off('message', onMessage);
      resolve(msg.memory);
    };
    child.on('message', onMessage);
    child.send({ probe: label });
  });
}

async function main(): Promise<void> {
  installWorkerRuntime('error');
  const temporal = await startTemporalDevServer({ port: 0, headless: true, searchAttributes: SEARCH_ATTRIBUTES, log: () => {} });
  const database = await createFreshDatabase('proxbox_bench_del');
  const netbox = createNetboxSimulator({ demo: true, tokens: ['nbt_simkey.simtoken'] });
  const nb = await netbox.listen(0);
  const sim = spawnChild('--simulator', {});
  const pb = { url: String((await sim.ready).url) };
  const taskQueue = 'bench-deletions';
  const envVars: Record<string, string> = {
    PORT: '0', DATABASE_URL: database.url, TEMPORAL_ADDRESS: temporal.address, TEMPORAL_TASK_QUEUE: taskQueue,
    NETBOX_URL: nb.url, NETBOX_TOKEN: 'nbt_simkey.simtoken', NETBOX_WEBHOOK_SECRET: 'bench-webhook-secret',
    APPROVAL_SIGNING_SECRET: 'bench-approval-secret-0123456789', RECONCILE_INTERVAL_S: '86400', LOG_LEVEL: 'error',
    SECRETS_ENCRYPTION_KEY: newSecretKey(), PROXBOX_API_ALLOW_HTTP: 'true',
  };
  // The API (and the migrations) in this process; the worker in its own.
  const api = await startSystem({ env: parseEnv(envVars), role: 'api' });
  const db = api.database.db;
  const users = new UserStore(db);
  await users.create('alice', ['intent_delete_vm', 'view']);
  await users.create('bob', ['authorize_deletion_request', 'view']);
  const bob = (await users.createToken('bob'))!.token;
  await new SettingsStore(db).update({ netboxToProxmoxEnabled: true, typedConfirmation: CONFIRMATION_PHRASE }, 'bench');
  const endpoints = api.endpoints;
  await endpoints.putBackend({ url: pb.url, apiKey: 'sim-proxbox-key', timeoutMs: 30_000 });
  const endpoint = await endpoints.create({ name: 'bench', backendEndpointId: 1, allowWrites: true, clusters: ['bench-cluster'], isDefault: true });
  if (endpoint === 'name_taken') throw new Error('endpoint exists');

  const dir = mkdtempSync(join(os.tmpdir(), 'proxbox-bench-'));
  const bundlePath = join(dir, 'workflows.js');
  writeFileSync(bundlePath, (await bundleWorkflows()).code);
  const worker = spawnChild('--worker', { ...envVars, BENCH_BUNDLE_PATH: bundlePath }, ['--expose-gc']);
  await worker.ready;
  const child = worker.child;
  await sleep(1_000);
  const idle = await probe(child, 'idle');

  // Creating the requests as the ApplyWorkflow does: a row, then a DeletionWorkflow with the same options.
  const store = new DeletionRequestStore(db);
  const mergedMs = Date.now();
  const ids: number[] = [];
  const t0 = Date.now();
  let next = 0;
  const lane = async () => {
    while (next < N) {
      const i = next++;
      const vmid = FIRST_VMID + i;
      const node = NODES[i % NODES.length]!;
      const workflowId = deletionRequestWorkflowId(applyRunIdFromMs(SCHEMA, mergedMs), 10_000 + i);
      const row = await store.ensure({
        workflowId, vmid, node, kind: 'qemu', name: `old-${i}`, netboxId: 10_000 + i, changeDiffId: 50_000 + i, clusterKey: 'bench-cluster',
        endpointId: endpoint.id, branchId: 1, branchSchemaId: SCHEMA, branchName: 'bench-retire', applyJobId: null, requestedBy: 'alice',
        expiresAt: deletionExpiresAt(new Date(), 7), metadataSnapshot: { vmid, node, kind: 'qemu', name: `old-${i}` },
      }, 'alice');
      ids.push(row.id);
      const input: DeletionWorkflowInput = {
        requestId: row.id, vmid, node, kind: 'qemu', name: `old-${i}`, requestedBy: 'alice', branchSchemaId: SCHEMA, expiresAtMs: row.expiresAt.getTime(),
      };
      await api.temporal.workflow.start('DeletionWorkflow', {
        taskQueue, workflowId, args: [input],
        typedSearchAttributes: [
          { key: SA_BRANCH, value: SCHEMA }, { key: SA_STATE, value: 'pending' }, { key: SA_KIND, value: 'qemu' },
          { key: SA_VMIDS, value: [String(vmid)] }, { key: SA_USER, value: 'alice' },
        ],
        staticSummary: `Deletion of qemu ${vmid} old-${i} on ${node}, requested by alice, expires ${row.expiresAt.toISOString()}`,
      });
    }
  };
  await Promise.all(Array.from({ length: LANES }, lane));
  const startedS = (Date.now() - t0) / 1000;

  const tagged = async () => (await db.select({ n: count() }).from(deletionRequests).where(eq(deletionRequests.taggedPendingDeletion, true)))[0]!.n;
  const checkpoints: { at: number; seconds: number; memory: Memory }[] = [];
  for (const mark of [0.25, 0.5, 0.75, 1].map((f) => Math.round(f * N))) {
    while ((await tagged()) < mark) await sleep(200);
    checkpoints.push({ at: mark, seconds: (Date.now() - t0) / 1000, memory: await probe(child, `at-${mark}`) });
  }
  const pendingS = (Date.now() - t0) / 1000;
  await sleep(5_000);
  const settledMemory = await probe(child, 'settled');

  const get = async (path: string) => {
    const s = performance.now();
    const res = await fetch(`${api.apiUrl}${path}`, { headers: { authorization: `Bearer ${bob}` } });
    await res.arrayBuffer();
    if (res.status !== 200) throw new Error(`${path}: ${res.status}`);
    return performance.now() - s;
  };
  const listMs: number[] = [];
  const filteredMs: number[] = [];
  for (let i = 0; i < LIST_SAMPLES; i++) listMs.push(await get('/api/v1/deletion-requests'));
  for (let i = 0; i < LIST_SAMPLES; i++) filteredMs.push(await get(`/api/v1/deletion-requests?state=pending&vmid=${FIRST_VMID + ((i * 7919) % N)}`));

  // Approvals of requests spread over all 10,000: almost none of them is in the worker's cache any more.
  const approveIds = Array.from({ length: APPROVALS }, (_, i) => ids[(i * 4_999) % ids.length]!);
  const approveMs: number[] = [];
  const statuses = new Map<number, number>();
  for (const id of approveIds) {
    const row = (await store.get(id))!;
    const s = performance.now();
    const res = await fetch(`${api.apiUrl}/api/v1/deletion-requests/${id}/approve`, {
      method: 'POST', headers: { authorization: `Bearer ${bob}`, 'content-type': 'application/json' }, body: JSON.stringify({ vmid: row.vmid }),
    });
    await res.arrayBuffer();
    approveMs.push(performance.now() - s);
    statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
  }
  const execT0 = Date.now();
  const finished = async () => (await db.select({ n: count() }).from(deletionRequests)
    .where(inArray(deletionRequests.state, ['succeeded', 'failed'])))[0]!.n;
  while ((await finished()) < approveIds.length && Date.now() - execT0 < 300_000) await sleep(250);
  const executedS = (Date.now() - execT0) / 1000;
  const outcomes = await db.select({ state: deletionRequests.state, n: count() }).from(deletionRequests).groupBy(deletionRequests.state);
  const afterApprovals = await probe(child, 'after-approvals');

  const cpu = os.cpus()[0];
  const mem = (m: Memory) => `RSS ${mib(m.rss)}, heap used ${mib(m.heapUsed)} of ${mib(m.heapTotal)}, external ${mib(m.external)}`;
  console.log(`proxbox-intent deletion benchmark — ${new Date().toISOString()}`);
  console.log(`machine: ${os.cpus().length} × ${cpu?.model ?? '?'}, ${fmt(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}`);
  console.log(`setup: ${N} pending DeletionWorkflows, one worker process (maxCachedWorkflows 500, the production default), Temporal dev server (in memory), PostgreSQL; memory after a full GC`);
  console.log('');
  console.log(`worker memory, idle:                     ${mem(idle)}`);
  for (const c of checkpoints) console.log(`worker memory, ${String(c.at).padStart(5)} pending (${fmt(c.seconds)} s): ${mem(c.memory)}`);
  console.log(`worker memory, settled 5 s later:        ${mem(settledMemory)}`);
  console.log(`worker memory, after ${APPROVALS} approvals:       ${mem(afterApprovals)}`);
  console.log('');
  console.log(`create ${N}: all started in ${fmt(startedS)} s (${fmt(N / startedS)}/s), all pending and tagged in ${fmt(pendingS)} s (${fmt(N / pendingS)}/s)`);
  console.log(`GET /api/v1/deletion-requests (50 per page), ${LIST_SAMPLES} calls: p50 ${fmt(pct(listMs, 50))} ms, p99 ${fmt(pct(listMs, 99))} ms`);
  console.log(`GET ?state=pending&vmid=…, ${LIST_SAMPLES} calls:            p50 ${fmt(pct(filteredMs, 50))} ms, p99 ${fmt(pct(filteredMs, 99))} ms`);
  console.log(`POST …/approve, ${APPROVALS} sequential approvals:     p50 ${fmt(pct(approveMs, 50))} ms, p99 ${fmt(pct(approveMs, 99))} ms, max ${fmt(Math.max(...approveMs))} ms; statuses ${JSON.stringify(Object.fromEntries(statuses))}`);
  console.log(`the approved ${APPROVALS} executed (register, approve, execute, task) within ${fmt(executedS)} s; states now ${JSON.stringify(Object.fromEntries(outcomes.map((o) => [o.state, o.n])))}`);

  child.send({ stop: true });
  await new Promise((r) => child.once('exit', r));
  await api.stop();
  sim.child.send({ stop: true });
  await new Promise((r) => sim.child.once('exit', r));
  await netbox.close();
  await database.drop();
  await temporal.stop();
  rmSync(dir, { recursive: true, force: true });
}

if (process.argv.includes('--worker')) {
  workerProcess().catch((err: unknown) => { console.error(err); process.exit(1); });
} else if (process.argv.includes('--simulator')) {
  simulatorProcess().catch((err: unknown) => { console.error(err); process.exit(1); });
} else {
  main().then(() => process.exit(0), (err: unknown) => { console.error(err); process.exit(1); });
}
