import { describe, expect, it } from 'vitest';
import { CAPABILITY_REGISTER_DELETION, CAPABILITY_TASK_STATUS, PlanResponse } from '../../contracts/proxbox-api';
import { startTestProxbox, type TestProxbox } from '../../simulators/proxbox-api/test-client';
import { useProxboxSimulator } from '../support/proxbox-simulator';

const NO_OP_SUMMARY = 'No VM/LXC diffs in this branch — merge will be a no-op for Proxmox.';
const DEFAULT_PERMIT = 'Plan-time validation accepted. Per-op probes land in Sub-PRs F/G/K.';
const DELETE_ROUTED = 'DELETE diffs land in a DeletionRequest for separate authorization (Sub-PR H). The merge will not call Proxmox destroy.';

let pb: TestProxbox;

useProxboxSimulator((p) => { pb = p; }, { options: { trustedProxies: ['127.0.0.1'] } });

const plan = (body: unknown) => pb.request('POST', '/intent/plan', { body });

describe('POST /intent/plan (proxbox-api.md §4)', () => {
  it('1: empty diffs are permitted with the no-op summary', async () => {
    const r = await plan({ endpoint_id: 1, diffs: [] });
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ permitted: true, verdicts: [], summary: NO_OP_SUMMARY });
    expect(r.body.summary).toContain('no-op');
    expect(PlanResponse.parse(r.body)).toEqual(r.body);
  });

  it('2: virtualmachine create and update diffs are default-permitted', async () => {
    const r = await plan({
      endpoint_id: 1,
      diffs: [{ op: 'create', kind: 'virtualmachine', name: 'web-03' }, { op: 'update', kind: 'virtualmachine', netbox_id: 812 }],
    });
    expect(r.status).toBe(200);
    expect(r.body.verdicts).toEqual([
      { netbox_id: null, op: 'create', verdict: 'permitted', reason: 'default_permit', message: DEFAULT_PERMIT },
      { netbox_id: 812, op: 'update', verdict: 'permitted', reason: 'default_permit', message: DEFAULT_PERMIT },
    ]);
    expect(r.body.summary).toBe('1 create / 1 update / 0 delete diff(s) classified.');
  });

  it('3: a delete diff is a warning routed to a DeletionRequest and permitted stays true', async () => {
    const r = await plan({ endpoint_id: 1, diffs: [{ op: 'delete', kind: 'lxc', netbox_id: 790 }] });
    expect(r.status).toBe(200);
    expect(r.body.permitted).toBe(true);
    expect(r.body.verdicts).toEqual([
      { netbox_id: 790, op: 'delete', verdict: 'warning', reason: 'delete_routed_to_deletion_request', message: DELETE_ROUTED },
    ]);
    expect(r.body.verdicts[0].message).toContain('DeletionRequest');
  });

  it('4: the summary counts diffs by op', async () => {
    const r = await plan({
      endpoint_id: 1,
      diffs: [
        { op: 'create', kind: 'virtualmachine' }, { op: 'create', kind: 'lxc' },
        { op: 'update', kind: 'virtualmachine' }, { op: 'delete', kind: 'virtualmachine' },
      ],
    });
    expect(r.body.summary).toBe('2 create / 1 update / 1 delete diff(s) classified.');
    expect(r.body.summary).toContain('2 create');
    expect(r.body.summary).toContain('1 update');
    expect(r.body.summary).toContain('1 delete');
  });

  it('classifies firewall diffs by kind or by a firewall.* type/action, counting them in the summary', async () => {
    const r = await plan({
      endpoint_id: 1,
      diffs: [
        { op: 'update', kind: 'firewall', action: 'firewall.rule.update' },
        { op: 'create', kind: 'virtualmachine', type: 'firewall.group.create' },
        { op: 'delete', kind: 'firewall' },
      ],
    });
    expect(r.body.verdicts.map((v: { verdict: string; reason: string; message: string }) => [v.verdict, v.reason, v.message])).toEqual([
      ['warning', 'firewall_plan_preview', "Firewall action 'firewall.rule.update' will be re-read and write-gated during /intent/apply."],
      ['warning', 'firewall_plan_preview', "Firewall action 'firewall.group.create' will be re-read and write-gated during /intent/apply."],
      ['warning', 'firewall_plan_preview', "Firewall action 'delete' will be re-read and write-gated during /intent/apply."],
    ]);
    expect(r.body.summary).toBe('1 create / 1 update / 1 delete diff(s) classified.');
  });

  it('never looks the endpoint up and never calls Proxmox', async () => {
    const r = await plan({ endpoint_id: 999, diffs: [{ op: 'create', kind: 'lxc' }] });
    expect(r.status).toBe(200);
    expect(pb.sim.cluster.pveLog).toEqual([]);
  });

  it('rejects the apply vocabulary and unknown top-level keys with E1', async () => {
    const kind = await plan({ endpoint_id: 1, diffs: [{ op: 'create', kind: 'qemu' }] });
    expect(kind.status).toBe(422);
    expect(kind.body.detail).toEqual([{
      type: 'literal_error', loc: ['body', 'diffs', 0, 'kind'], msg: "Input should be 'virtualmachine', 'lxc' or 'firewall'",
      input: 'qemu', ctx: { expected: "'virtualmachine', 'lxc' or 'firewall'" },
    }]);
    const extra = await plan({ endpoint_id: 1, run_uuid: 'x' });
    expect(extra.status).toBe(422);
    expect(extra.body.detail).toEqual([{ type: 'extra_forbidden', loc: ['body', 'run_uuid'], msg: 'Extra inputs are not permitted', input: 'x' }]);
    const missing = await plan({ diffs: [] });
    expect(missing.body.detail).toEqual([{ type: 'missing', loc: ['body', 'endpoint_id'], msg: 'Field required', input: { diffs: [] } }]);
  });

  it('5: a plan without an API key gets 401', async () => {
    const r = await pb.request('POST', '/intent/plan', { body: { endpoint_id: 1 }, key: null });
    expect(r.status).toBe(401);
    expect(r.body).toEqual({ detail: 'API key required. 4 attempts remaining.' });
  });
});

describe('/openapi.json, /health, /version', () => {
  it('6: /openapi.json lists POST /intent/plan and POST /intent/apply, without a key', async () => {
    const r = await pb.request('GET', '/openapi.json', { key: null });
    expect(r.status).toBe(200);
    expect(r.body.paths['/intent/plan']).toHaveProperty('post');
    expect(r.body.paths['/intent/apply']).toHaveProperty('post');
    expect(r.body.paths['/proxmox/api2/latest/nodes/{node}/tasks/{upid}/status']).toHaveProperty('get');
  });

  it('/health needs no key; /version does', async () => {
    expect(await pb.request('GET', '/health', { key: null })).toMatchObject({ status: 200, body: { status: 'ready', init_ok: true } });
    expect(await pb.request('GET', '/version')).toMatchObject({ status: 200, body: { version: '0.0.19.post5' } });
    expect((await pb.request('GET', '/version', { key: null })).status).toBe(401);
  });

  it('every listed path is served', async () => {
    pb.sim.capabilities.registerDeletion = true;
    pb.sim.capabilities.taskStatus = true;
    const doc = (await pb.request('GET', '/openapi.json')).body as { paths: Record<string, Record<string, unknown>> };
    const samples: Record<string, string> = { '{id}': '1', '{node}': 'pve01', '{type}': 'qemu', '{vmid}': '105', '{storage}': 'local', '{upid}': 'UPID%3Ax' };
    for (const [path, methods] of Object.entries(doc.paths)) {
      const concrete = path.replace(/\{[a-z]+\}/g, (m) => samples[m] ?? 'x');
      for (const method of Object.keys(methods)) {
        const r = await pb.request(method.toUpperCase(), concrete, method === 'get' ? {} : { body: {} });
        expect(r.body, `${method} ${path}`).not.toEqual({ detail: 'Not Found' });
      }
    }
  });
});

describe('authentication (proxbox-api.md §1.2)', () => {
  const asIp = (ip: string, key: string | null = 'sim-proxbox-key') => pb.request('GET', '/version', { key, headers: { 'X-Forwarded-For': ip } });

  it('counts failures down and reports the remaining attempts', async () => {
    const details = [];
    for (let i = 0; i < 5; i++) details.push((await asIp('198.51.100.7', i % 2 ? null : 'wrong')).body.detail);
    expect(details).toEqual([
      'Invalid API key. 4 attempts remaining.', 'API key required. 3 attempts remaining.', 'Invalid API key. 2 attempts remaining.',
      'API key required. 1 attempts remaining.', 'Invalid API key.',
    ]);
  });

  it('41: after five bad keys the sixth request from that IP gets 429 even with a valid key', async () => {
    for (let i = 0; i < 5; i++) expect((await asIp('198.51.100.8', 'wrong')).status).toBe(401);
    const locked = await asIp('198.51.100.8');
    expect(locked.status).toBe(429);
    expect(locked.headers.get('retry-after')).toBe('300');
    expect(locked.body).toEqual({ detail: 'Too many failed authentication attempts. Please try again later.' });
    expect((await asIp('198.51.100.9')).status).toBe(200);
  });

  it('a success clears the failure counter', async () => {
    for (let i = 0; i < 4; i++) await asIp('198.51.100.10', 'wrong');
    expect((await asIp('198.51.100.10')).status).toBe(200);
    expect((await asIp('198.51.100.10', 'wrong')).body.detail).toBe('Invalid API key. 4 attempts remaining.');
  });

  it('without registered keys answers 401 and does not count a failure', async () => {
    pb.sim.auth.setKeys([]);
    for (let i = 0; i < 6; i++) {
      const r = await asIp('198.51.100.11');
      expect(r.status).toBe(401);
      expect(r.body.detail).toBe('No API key configured. Register a key via POST /auth/register-key or use an existing key.');
    }
    pb.sim.auth.setKeys(['sim-proxbox-key']);
    expect((await asIp('198.51.100.11')).status).toBe(200);
  });

  it('ignores X-Forwarded-For from peers that are not trusted proxies', async () => {
    const strict = await startTestProxbox();
    try {
      for (let i = 0; i < 5; i++) await strict.request('GET', '/version', { key: 'wrong', headers: { 'X-Forwarded-For': `203.0.113.${i}` } });
      expect((await strict.request('GET', '/version', { headers: { 'X-Forwarded-For': '203.0.113.99' } })).status).toBe(429);
    } finally {
      await strict.close();
    }
  });
});

describe('rate limiting (proxbox-api.md §1.3)', () => {
  it('42: request 301 within 60 s gets 429 with Retry-After 60; /openapi.json is never limited', async () => {
    const headers = { 'X-Forwarded-For': '192.0.2.200' };
    const statuses = await Promise.all(Array.from({ length: 300 }, () => pb.request('GET', '/version', { headers }).then((r) => r.status)));
    expect(statuses.every((s) => s === 200)).toBe(true);
    const limited = await pb.request('GET', '/version', { headers });
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toBe('60');
    expect(limited.body).toEqual({ detail: 'Rate limit exceeded. Please try again later.' });
    for (let i = 0; i < 3; i++) expect((await pb.request('GET', '/openapi.json', { headers })).status).toBe(200);
    expect((await pb.request('GET', '/version', { headers: { 'X-Forwarded-For': '192.0.2.201' } })).status).toBe(200);
  });

  it('runs before authentication, so a limited client cannot burn attempts', async () => {
    pb.sim.rateLimiter.limitPerMinute = 2;
    const headers = { 'X-Forwarded-For': '192.0.2.202' };
    await pb.request('GET', '/version', { headers });
    await pb.request('GET', '/version', { headers });
    const r = await pb.request('GET', '/version', { headers, key: 'wrong' });
    expect(r.status).toBe(429);
    expect(r.body.detail).toBe('Rate limit exceeded. Please try again later.');
  });
});

describe('optional capabilities (proxbox-api.md §10)', () => {
  it('48: with capabilities off neither route is listed nor served', async () => {
    const doc = (await pb.request('GET', '/openapi.json')).body;
    expect(doc.paths[CAPABILITY_REGISTER_DELETION.path]?.[CAPABILITY_REGISTER_DELETION.method]).toBeUndefined();
    expect(doc.paths[CAPABILITY_TASK_STATUS.path]).toBeUndefined();
    const register = await pb.request('POST', '/intent/deletion-requests', { body: { vmid: 190, node: 'pve02', kind: 'lxc', endpoint_id: 1, requested_by: 'alice' } });
    expect(register).toMatchObject({ status: 404, body: { detail: 'Not Found' } });
    expect((await pb.request('GET', '/intent/tasks/pve01/UPID%3Ax?endpoint_id=1')).status).toBe(404);
    expect(pb.sim.cluster.deletions.list()).toEqual([]);
  });

  it('48: with capabilities on both are listed, registration and task status behave as proxbox-api.md §10', async () => {
    const on = await startTestProxbox({ capabilities: { registerDeletion: true, taskStatus: true }, taskDurationMs: 150 });
    try {
      on.sim.cluster.seedDemoCluster();
      const doc = (await on.request('GET', '/openapi.json')).body;
      expect(doc.paths['/intent/deletion-requests']).toHaveProperty('post');
      expect(doc.paths['/intent/tasks/{node}/{upid}']).toHaveProperty('get');

      const body = { vmid: 190, node: 'pve02', kind: 'lxc', endpoint_id: 1, requested_by: 'alice', client_ref: 'apply:k3x9:1:790' };
      const created = await on.request('POST', '/intent/deletion-requests', { body, headers: { 'X-Proxbox-Actor': 'alice' } });
      expect(created.status).toBe(201);
      expect(created.body).toMatchObject({ id: 1, endpoint_id: 1, vmid: 190, node: 'pve02', kind: 'lxc', state: 'pending', requested_by: 'alice', client_ref: 'apply:k3x9:1:790' });
      expect(created.body.created_at).toBe(created.body.updated_at);
      const again = await on.request('POST', '/intent/deletion-requests', { body });
      expect(again).toMatchObject({ status: 200, body: created.body });
      const conflict = await on.request('POST', '/intent/deletion-requests', { body: { ...body, vmid: 105, node: 'pve01', kind: 'qemu' } });
      expect(conflict.status).toBe(409);
      expect(typeof conflict.body.detail).toBe('string');
      const invalid = await on.request('POST', '/intent/deletion-requests', { body: { ...body, kind: 'virtualmachine', requested_by: undefined } });
      expect(invalid.status).toBe(422);
      expect(invalid.body.detail.map((e: { loc: unknown[] }) => e.loc)).toEqual([['body', 'kind'], ['body', 'requested_by']]);
      on.sim.cluster.updateEndpoint(1, { allow_writes: false });
      const gated = await on.request('POST', '/intent/deletion-requests', { body: { ...body, client_ref: 'other' } });
      expect(gated.status).toBe(403);
      expect(gated.body.reason).toBe('endpoint_writes_disabled');
      expect(on.sim.cluster.deletions.list()).toHaveLength(1);
      on.sim.cluster.updateEndpoint(1, { allow_writes: true });

      // Approve and execute the registered record, then follow the destroy task.
      const target = { vmid: 190, node: 'pve02', kind: 'lxc' };
      expect((await on.request('POST', '/intent/deletion-requests/1/approve', { body: target })).body.state).toBe('approved');
      const executed = await on.request('POST', '/intent/deletion-requests/1/execute', { body: target });
      expect(executed.status).toBe(200);
      const path = `/intent/tasks/pve02/${encodeURIComponent(executed.body.upid)}?endpoint_id=1`;
      const running = await on.request('GET', path);
      expect(running.status).toBe(200);
      expect(running.body).toMatchObject({ upid: executed.body.upid, node: 'pve02', status: 'running', exitstatus: null, type: 'vzdestroy', id: '190' });
      await new Promise((r) => setTimeout(r, 200));
      expect((await on.request('GET', path)).body).toMatchObject({ status: 'stopped', exitstatus: 'OK' });
      expect(on.sim.cluster.getGuest(190)).toBeUndefined();

      expect((await on.request('GET', `/intent/tasks/pve02/${encodeURIComponent(executed.body.upid)}`)).body.detail[0])
        .toMatchObject({ type: 'missing', loc: ['query', 'endpoint_id'] });
      expect(await on.request('GET', `/intent/tasks/pve02/${encodeURIComponent(executed.body.upid)}?endpoint_id=7`))
        .toMatchObject({ status: 404, body: { detail: 'No ProxmoxEndpoint with id=7.' } });
      expect(await on.request('GET', `/intent/tasks/pve01/${encodeURIComponent(executed.body.upid)}?endpoint_id=1`))
        .toMatchObject({ status: 404, body: { detail: "Task not found on node 'pve01'." } });
      on.sim.cluster.setNodeStatus('pve02', 'offline');
      const offline = await on.request('GET', path);
      expect(offline.status).toBe(502);
      expect(offline.body.detail).toContain('No route to host');
    } finally {
      await on.close();
    }
  });

  it('can be switched at runtime through /_sim/capabilities', async () => {
    expect((await pb.request('POST', '/_sim/capabilities', { key: null, body: { taskStatus: true } })).status).toBe(204);
    const doc = (await pb.request('GET', '/openapi.json')).body;
    expect(doc.paths['/intent/tasks/{node}/{upid}']).toHaveProperty('get');
    expect(doc.paths['/intent/deletion-requests']).toBeUndefined();
  });
});
