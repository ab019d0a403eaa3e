import { createServer, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QuotaStore } from '../../db/quotas';
import { UserStore } from '../../db/users';
import { STATUS_CACHE_MS, STATUS_PROBE_TIMEOUT_MS, STATUS_PROXBOX_CALLS_PER_MIN } from '../../domain/service-status';
import { SERVICE_VERSION } from '../../domain/service-version';
import { NETBOX_TOKEN, PROXBOX_KEY, eventually, startStack, type Stack } from '../support/stack';

/** GET /api/v1/status once the cached answer has expired, so each check sees the world as it is now. */
async function freshStatus(s: Stack, token = s.tokens.carol) {
  await new Promise((r) => setTimeout(r, STATUS_CACHE_MS + 50));
  const started = Date.now();
  const res = await s.call(token, 'GET', '/api/v1/status');
  return { ...res, tookMs: Date.now() - started };
}

const readyz = async (s: Stack) => {
  const res = await fetch(`${s.api}/readyz`);
  return { status: res.status, body: await res.json() as Record<string, unknown> };
};

describe('GET /api/v1/status and /readyz with a worker', () => {
  let s: Stack;
  beforeAll(async () => { s = await startStack(); });
  afterAll(async () => { await s?.stop(); });

  it('sees the worker polling, both upstreams answering, the capabilities and the gates', async () => {
    const body = await eventually(async () => {
      const res = await s.call(s.tokens.carol, 'GET', '/api/v1/status');
      expect(res.status).toBe(200);
      return res.body.temporal.workerPolling ? res.body : undefined;
    }, 'the worker polling', STATUS_CACHE_MS + 15_000);
    expect(body).toMatchObject({
      status: 'ok', problems: [], version: SERVICE_VERSION,
      temporal: {
        reachable: true, taskQueue: s.taskQueue, namespace: s.env.TEMPORAL_NAMESPACE, uiUrl: 'http://127.0.0.1:8233', pollerWindowS: 120,
        taskQueueUrl: `http://127.0.0.1:8233/namespaces/${s.env.TEMPORAL_NAMESPACE}/task-queues/${s.taskQueue}`, error: null,
      },
      netbox: { configured: true, reachable: true, branchingInstalled: true, error: null },
      proxboxApi: { configured: true, reachable: true, timeoutMs: 10_000, capabilities: { registerDeletion: true, taskStatus: true }, error: null },
      intent: { masterFlag: true, selfApproveAllowed: false },
      endpoints: {
        count: 1, writable: 1, probed: 1, unprobedReason: null,
        items: [{ name: 'lab', backendEndpointId: 1, allowWrites: true, backend: { found: true, enabled: true, allowWrites: true }, writesPossible: true }],
      },
    });
    expect(body.temporal.pollers.workflow.recentPollers).toBeGreaterThan(0);
    expect(body.temporal.pollers.activity.recentPollers).toBeGreaterThan(0);
    expect(await readyz(s)).toEqual({ status: 200, body: { status: 'ready', database: 'ok', temporal: 'ok', worker: 'polling', workerRequired: false } });
  });

  it('needs `view`: 401 without a token, 403 without the permission', async () => {
    expect((await fetch(`${s.api}/api/v1/status`)).status).toBe(401);
    const users = new UserStore(s.system.database.db);
    await users.create('dave', ['trigger_apply']);
    const dave = (await users.createToken('dave'))!.token;
    const res = await s.call(dave, 'GET', '/api/v1/status');
    expect(res.status).toBe(403);
    expect(res.body.code).toBe('permission_denied');
  });

  it('lists proxbox-api\'s optional capabilities as they come and go, and its own endpoint gate', async () => {
    s.proxbox.capabilities.registerDeletion = false;
    s.proxbox.capabilities.taskStatus = false;
    s.proxbox.cluster.updateEndpoint(1, { allow_writes: false });
    try {
      const { body } = await freshStatus(s);
      expect(body.proxboxApi.capabilities).toMatchObject({ registerDeletion: false, taskStatus: false });
      expect(body.endpoints).toMatchObject({ count: 1, writable: 0, items: [{ allowWrites: true, backend: { found: true, enabled: true, allowWrites: false }, writesPossible: false }] });
      expect(body.problems.map((p: { code: string }) => p.code)).toEqual(['capability_missing', 'writes_disabled_for_endpoint']);
      expect(body.problems[1].message).toBe('writes_disabled_for_endpoint: endpoint "lab" (lab-cluster, 5): proxbox-api reports enabled=true, allow_writes=false.');
    } finally {
      s.proxbox.capabilities.registerDeletion = true;
      s.proxbox.capabilities.taskStatus = true;
      s.proxbox.cluster.updateEndpoint(1, { allow_writes: true });
    }
    const { body } = await freshStatus(s);
    expect(body.proxboxApi.capabilities).toMatchObject({ registerDeletion: true, taskStatus: true });
    expect(body.endpoints.writable).toBe(1);
  });

  it('reports NetBox down with its reason, within the bound, when it is stopped and when it never answers', async () => {
    const port = Number(new URL(s.env.NETBOX_URL!).port);
    await s.netbox.close();
    const stopped = await freshStatus(s);
    expect(stopped.status).toBe(200);
    expect(stopped.body.netbox).toMatchObject({ configured: true, reachable: false, branchingInstalled: null });
    expect(stopped.body.netbox.error).toMatch(/unreachable/i);
    expect(stopped.body.problems).toContainEqual({ code: 'netbox_unreachable', message: expect.stringMatching(/^NetBox does not answer: /) });
    expect(stopped.body.proxboxApi.reachable).toBe(true);

    // A NetBox that takes the connection and never says a word.
    const sockets: Socket[] = [];
    const blackHole: Server = createServer((socket) => { sockets.push(socket); });
    await new Promise<void>((resolve) => blackHole.listen(port, '127.0.0.1', resolve));
    try {
      const silent = await freshStatus(s);
      expect(silent.status).toBe(200);
      expect(silent.tookMs).toBeLessThan(STATUS_PROBE_TIMEOUT_MS + 1_500);
      expect(silent.body.netbox.reachable).toBe(false);
      expect(silent.body.netbox.error).toMatch(new RegExp(`within ${STATUS_PROBE_TIMEOUT_MS} ms`));
      expect(JSON.stringify(silent.body)).not.toContain(NETBOX_TOKEN);
      expect(JSON.stringify(silent.body)).not.toContain(PROXBOX_KEY);
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise((r) => blackHole.close(r));
    }
  });

  it('stops asking proxbox-api about endpoints once the status answers\' budget, shared by every process, is spent', async () => {
    // Earlier answers of this file took part of it already: take what is left.
    const quotas = new QuotaStore(s.system.database.db);
    let taken = 0;
    while (taken <= STATUS_PROXBOX_CALLS_PER_MIN && (await quotas.take('proxbox-api-calls:status', { limit: STATUS_PROXBOX_CALLS_PER_MIN, ttlMs: 60_000 })).ok) taken += 1;
    expect(taken).toBeGreaterThan(0);
    expect(taken).toBeLessThan(STATUS_PROXBOX_CALLS_PER_MIN);
    const { body } = await freshStatus(s);
    expect(body.endpoints).toMatchObject({ count: 1, probed: 0, items: [{ backend: null, writesPossible: false }] });
    expect(body.endpoints.unprobedReason).toMatch(/budget \(60 endpoint reads per minute\) is spent; retry in \d+ s/);
    expect(body.proxboxApi.reachable).toBe(true);
  });
});

describe('GET /api/v1/status and /readyz without a worker (the API process alone)', () => {
  let s: Stack;
  beforeAll(async () => { s = await startStack({ role: 'api' }); });
  afterAll(async () => { await s?.stop(); });

  it('says no worker polls, with the guide\'s "Job stays queued", and /readyz stays 200 saying so', async () => {
    const res = await s.call(s.tokens.carol, 'GET', '/api/v1/status');
    expect(res.status).toBe(200);
    expect(res.body.temporal).toMatchObject({
      reachable: true, workerPolling: false, taskQueue: s.taskQueue,
      pollers: { workflow: { recentPollers: 0 }, activity: { recentPollers: 0 } },
    });
    expect(res.body.status).toBe('degraded');
    expect(res.body.problems).toEqual([{
      code: 'no_worker_polling',
      message: expect.stringMatching(new RegExp(`^Job stays queued: no worker has polled task queue "${s.taskQueue}"`)),
    }]);
    expect(await readyz(s)).toEqual({ status: 200, body: { status: 'ready', database: 'ok', temporal: 'ok', worker: 'none', workerRequired: false } });
  });
});

describe('/readyz with READYZ_REQUIRE_WORKER=true and no worker', () => {
  let s: Stack;
  beforeAll(async () => { s = await startStack({ role: 'api', env: { READYZ_REQUIRE_WORKER: 'true' } }); });
  afterAll(async () => { await s?.stop(); });

  it('answers 503 until a worker polls', async () => {
    expect(await readyz(s)).toEqual({ status: 503, body: { status: 'not_ready', database: 'ok', temporal: 'ok', worker: 'none', workerRequired: true } });
  });
});
