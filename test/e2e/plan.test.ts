import { execFile } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { backend } from '../../db/schema';
import { MESSAGES } from '../../domain/messages';
import { CONFIRMATION_PHRASE } from '../../domain/settings';
import { PROXBOX_KEY, startStack, type Stack } from '../support/stack';

const SHIM_RUNNER = fileURLToPath(new URL('../../contrib/netbox/tests/validate_branch.py', import.meta.url));

/** The NetBox shim's merge validator (Python), run against our API for an opted-in branch: what the merge page shows. */
function runShim(api: string, token: string, branchId: number, mergingUser?: string): Promise<{ permitted: boolean; message: string }> {
  return new Promise((resolve, reject) => {
    execFile('python3', [SHIM_RUNNER, String(branchId), ...(mergingUser ? [mergingUser] : [])], { env: { ...process.env, PROXBOX_INTENT_URL: api, PROXBOX_INTENT_TOKEN: token }, timeout: 20_000 },
      (err, stdout, stderr) => (err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(JSON.parse(stdout))));
  });
}

/** A loopback port nothing listens on (connections are refused at once). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** The read-only plan over HTTP, against both simulators (api.md "Plan: the merge validator"). */
describe('the plan (merge validator)', () => {
  let s: Stack;
  let seq = 0;
  let labEndpointId: number;
  let proxboxUrl: string;

  beforeAll(async () => {
    s = await startStack();
    labEndpointId = (await s.call(s.tokens.admin, 'GET', '/api/v1/proxmox-endpoints')).body.items[0].id;
    proxboxUrl = (await s.system.endpoints.getBackend())!.url;
  });
  afterAll(async () => { await s?.stop(); });
  afterEach(() => {
    s.proxbox.control.clearFaults();
    s.netbox.control.clearFaults();
  });

  const plan = (branchId: number, body: unknown = {}, token = s.tokens.carol) => s.call(token, 'POST', `/api/v1/branches/${branchId}/plan`, body);
  const proxboxCalls = () => s.proxbox.control.calls.map((c) => `${c.method} ${c.path}`);
  const branch = (customFields: Record<string, unknown> = { apply_to_proxmox: true, apply_destroy_confirmed: true }) =>
    s.netbox.createBranch({ name: `plan-${++seq}`, owner: 'bob', customFields });
  const qemu = (name: string, vmid: number | null, cf: Record<string, unknown> = {}, over: Record<string, unknown> = {}) => ({
    name, cluster: 5, vcpus: '1.00', memory: 1024, tags: [],
    custom_fields: { proxmox_vm_id: vmid, proxmox_vm_type: 'qemu', proxmox_node: 'pve01', proxmox_storage: 'local-lvm', ...cf }, ...over,
  });
  const lxc = (name: string, vmid: number, cf: Record<string, unknown> = {}) =>
    qemu(name, vmid, { proxmox_vm_type: 'lxc', proxmox_node: 'pve02', proxmox_ostemplate: 'local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst', ...cf });
  const byName = (body: { verdicts: { name: string; verdict: string; reason: string }[] }) =>
    Object.fromEntries(body.verdicts.map((v) => [v.name, `${v.verdict}:${v.reason}`]));

  it('permits the demo branch, with per-VM verdicts, asking proxbox-api only read routes and /intent/plan', async () => {
    const before = s.proxbox.control.calls.length;
    const { branch: b } = s.netbox.buildDemoBranch();
    const res = await plan(b.id);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      permitted: true,
      branch: { id: b.id, schemaId: b.schemaId, name: 'add-web-vms', status: 'ready' },
      settings: { enabled: true, optedIn: true, destroyConfirmed: true },
      actor: null, rbacChecked: false, unavailable: null,
      summary: '2 create / 1 update / 1 delete; 3 permitted, 1 warning, 0 blocked, 0 skipped',
    });
    expect(res.body.message).toMatch(/^Plan permitted with 1 warning: old-app-02: DELETE diffs land in a DeletionRequest/);
    expect(res.body.diffs).toContainEqual({ changeDiffId: expect.any(Number), netboxId: 812, name: 'web-03', op: 'create', kind: 'qemu', vmid: 312, node: 'pve01', endpoint: 'lab' });
    expect(byName(res.body)).toEqual({
      'old-app-02': 'warning:delete_routed_to_deletion_request', 'db-01': 'permitted:checks_passed', 'web-03': 'permitted:checks_passed', 'cache-01': 'permitted:checks_passed',
    });

    const calls = s.proxbox.control.calls.slice(before);
    expect(calls.filter((c) => !(c.method === 'GET' || (c.method === 'POST' && c.path === '/intent/plan')))).toEqual([]);
    const planCalls = calls.filter((c) => c.path === '/intent/plan');
    expect(planCalls).toHaveLength(1);
    expect(planCalls[0]!.body).toMatchObject({ endpoint_id: 1, branch_id: b.id, actor: null });
    expect((planCalls[0]!.body as { diffs: { kind: string }[] }).diffs.map((d) => d.kind)).toEqual(['lxc', 'virtualmachine', 'virtualmachine', 'lxc']);
    expect(calls.map((c) => `${c.method} ${c.path}`)).toEqual(expect.arrayContaining([
      'GET /proxmox/endpoints/1', 'GET /proxmox/cluster/resources', 'GET /proxmox/nodes/pve02/storage/local/content', 'POST /intent/plan',
    ]));
    expect(s.proxbox.cluster.getGuest(312)).toBeUndefined();
    expect(s.proxbox.cluster.getGuest(190)).toBeTruthy();
  });

  it('shows the same plan as JSON, and sends a browser (with or without a token) to the plan page', async () => {
    const b = branch();
    s.netbox.createVm(b.id, qemu('<b>x</b>', 530));
    const posted = await plan(b.id);
    const summary = await s.call(s.tokens.carol, 'GET', `/api/v1/branches/${b.id}/plan-summary`);
    expect(summary.status).toBe(200);
    expect(summary.body).toEqual(posted.body);
    expect(posted.body.verdicts[0]).toMatchObject({ verdict: 'blocked', reason: 'invalid_name' });
    for (const authorization of [`Bearer ${s.tokens.carol}`, undefined]) {
      const page = await fetch(`${s.api}/api/v1/branches/${b.id}/plan-summary?actor=bob`, {
        redirect: 'manual', headers: { accept: 'text/html,application/xhtml+xml', ...(authorization ? { authorization } : {}) },
      });
      expect(page.status).toBe(303);
      expect(page.headers.get('location')).toBe(`/ui/branches/${b.id}/plan?actor=bob`);
    }
    // Nothing but a redirect without a token: JSON still needs one.
    expect((await fetch(`${s.api}/api/v1/branches/${b.id}/plan-summary`)).status).toBe(401);
  });

  it('permits a branch that is not opted in (NetBox-only merge) without asking proxbox-api anything', async () => {
    const before = proxboxCalls().length;
    const b = branch({});
    s.netbox.createVm(b.id, qemu('quiet-01', 531));
    const res = await plan(b.id);
    expect(res.body).toMatchObject({ permitted: true, message: MESSAGES.notOptedIn, settings: { optedIn: false } });
    expect(byName(res.body)).toEqual({ 'quiet-01': 'skipped:branch_not_opted_in' });
    expect(proxboxCalls().length).toBe(before);
  });

  it('blocks an opted-in branch while the master flag is off, and permits again once it is on with the phrase', async () => {
    const b = branch();
    s.netbox.createVm(b.id, qemu('flag-01', 532));
    expect((await s.call(s.tokens.admin, 'PUT', '/api/v1/settings', { netboxToProxmoxEnabled: false })).status).toBe(200);
    const off = await plan(b.id);
    expect(off.body).toMatchObject({ permitted: false, message: MESSAGES.masterFlagDisabled, settings: { enabled: false } });
    expect(off.body.verdicts[0]).toMatchObject({ verdict: 'blocked', check: 'master_flag', message: MESSAGES.masterFlagDisabled });
    expect((await s.call(s.tokens.admin, 'PUT', '/api/v1/settings', { netboxToProxmoxEnabled: true, typedConfirmation: CONFIRMATION_PHRASE })).status).toBe(200);
    expect((await plan(b.id)).body.permitted).toBe(true);
  });

  it('permits a branch without VM diffs: nothing for Proxmox', async () => {
    const res = await plan(branch().id);
    expect(res.body).toMatchObject({ permitted: true, diffs: [], verdicts: [], message: expect.stringContaining('no-op for Proxmox') });
  });

  it('checks RBAC for the actor when one is given, per op and kind', async () => {
    expect((await s.call(s.tokens.admin, 'POST', '/api/v1/users', { username: 'dave', permissions: ['view', 'intent_create_vm', 'intent_update_vm'] })).status).toBe(201);
    const { branch: b } = s.netbox.buildDemoBranch({ name: `demo-rbac-${++seq}` });
    const res = await plan(b.id, { actor: 'dave' });
    expect(res.body).toMatchObject({ permitted: false, actor: 'dave', rbacChecked: true });
    expect(byName(res.body)).toEqual({
      'old-app-02': 'blocked:permission_denied', 'db-01': 'permitted:checks_passed', 'web-03': 'permitted:checks_passed', 'cache-01': 'blocked:permission_denied',
    });
    expect(res.body.message).toBe('permission denied: intent_delete_lxc (old-app-02); permission denied: intent_create_lxc (cache-01)');
    const stranger = await plan(b.id, { actor: 'mallory' });
    expect(stranger.body.verdicts.map((v: { message: string }) => v.message)).toEqual([
      'permission denied: intent_delete_lxc', 'permission denied: intent_update_vm', 'permission denied: intent_create_vm', 'permission denied: intent_create_lxc',
    ]);
  });

  it('needs apply_destroy_confirmed for a branch with DELETE diffs', async () => {
    const { branch: b } = s.netbox.buildDemoBranch({ name: `demo-destroy-${++seq}` });
    s.netbox.updateBranch(b.id, { customFields: { apply_to_proxmox: true, apply_destroy_confirmed: false } });
    const res = await plan(b.id);
    expect(res.body).toMatchObject({ permitted: false, message: `${MESSAGES.destroyNotConfirmed} (old-app-02)`, settings: { destroyConfirmed: false } });
    expect(res.body.verdicts.filter((v: { verdict: string }) => v.verdict === 'blocked')).toHaveLength(1);
  });

  it('needs a configured backend, without calling anything upstream', async () => {
    const b = branch();
    s.netbox.createVm(b.id, qemu('nobackend-01', 533));
    const db = s.system.database.db;
    const before = proxboxCalls().length;
    await db.delete(backend);
    try {
      const res = await plan(b.id);
      expect(res.body).toMatchObject({ permitted: false, message: `${MESSAGES.noBackend} (nobackend-01)` });
      expect(res.body.verdicts[0]).toMatchObject({ verdict: 'blocked', check: 'backend', reason: 'no_backend' });
      expect(proxboxCalls().length).toBe(before);
    } finally {
      await s.system.endpoints.putBackend({ url: proxboxUrl, apiKey: PROXBOX_KEY, timeoutMs: 10_000 });
    }
  });

  it('needs writes allowed on our endpoint row and enabled && allow_writes in proxbox-api', async () => {
    const b = branch();
    s.netbox.createVm(b.id, qemu('writes-01', 534));
    const patch = (allowWrites: boolean) => s.call(s.tokens.admin, 'PATCH', `/api/v1/proxmox-endpoints/${labEndpointId}`, { allowWrites });
    const patched = await patch(false);
    expect(patched.status).toBe(200);
    // A PATCH changes only what it names: the clusters the endpoint serves stay.
    expect(patched.body).toMatchObject({ allowWrites: false, clusters: ['lab-cluster', '5'], isDefault: false });
    const ours = await plan(b.id);
    expect(ours.body.verdicts[0]).toMatchObject({ verdict: 'blocked', check: 'endpoint', reason: 'writes_disabled_for_endpoint', message: MESSAGES.writesDisabled });
    expect(ours.body.message).toBe(`${MESSAGES.writesDisabled} (writes-01)`);
    expect((await patch(true)).status).toBe(200);

    s.proxbox.cluster.updateEndpoint(1, { allow_writes: false });
    const theirs = await plan(b.id);
    s.proxbox.cluster.updateEndpoint(1, { allow_writes: true });
    expect(theirs.body.verdicts[0]).toMatchObject({ verdict: 'blocked', check: 'endpoint', reason: 'writes_disabled_for_endpoint' });
    expect(theirs.body.message).toMatch(/^writes_disabled_for_endpoint: allow_writes is off for Proxmox endpoint 1 \(lab\) in proxbox-api/);

    s.proxbox.cluster.updateEndpoint(1, { enabled: false });
    const disabled = await plan(b.id);
    s.proxbox.cluster.updateEndpoint(1, { enabled: true });
    expect(disabled.body.verdicts[0]).toMatchObject({ verdict: 'blocked', check: 'endpoint', reason: 'endpoint_disabled' });
    expect((await plan(b.id)).body.permitted).toBe(true);
  });

  it('runs the local and live pre-flight checks', async () => {
    s.netbox.addMainVm({ id: 700, ...qemu('web-01', 110, { proxmox_node: 'pve02' }) });
    s.netbox.addMainVm({ id: 701, ...qemu('ghost-01', 600) });
    s.netbox.addMainVm({ id: 702, ...qemu('moved-01', 190) });
    s.netbox.addMainVm({ id: 703, ...lxc('kind-01', 105, { proxmox_node: 'pve01' }) });
    s.proxbox.cluster.addGuest({ vmid: 115, node: 'pve01', type: 'qemu', name: 'someone-else' });
    s.netbox.addMainVm({ id: 704, ...qemu('ghost-02', 601) });
    const b = branch();
    s.netbox.updateVm(b.id, 700, { vcpus: '4.00' });
    s.netbox.updateVm(b.id, 701, { memory: 2048 });
    s.netbox.updateVm(b.id, 702, { memory: 2048 });
    s.netbox.updateVm(b.id, 703, { memory: 2048 });
    s.netbox.deleteVm(b.id, 704);
    for (const [name, vm] of [
      ['ok-01', qemu('ok-01', 520)], ['frac-01', qemu('frac-01', 521, {}, { vcpus: '1.50' })], ['novmid-01', qemu('novmid-01', null)],
      ['dup-a', qemu('dup-a', 522)], ['dup-b', qemu('dup-b', 522)], ['badnet-01', qemu('badnet-01', 523, { cloud_init_network: 'dhcp please' })],
      ['clash-01', qemu('clash-01', 115)], ['nonode-01', qemu('nonode-01', 524, { proxmox_node: 'pve09' })],
      ['nostore-01', qemu('nostore-01', 525, { proxmox_storage: 'ceph' }, { disk: 8192 })],
      ['notpl-01', lxc('notpl-01', 526, { proxmox_ostemplate: 'local:vztmpl/nope.tar.zst' })], ['noos-01', lxc('noos-01', 527, { proxmox_ostemplate: null })],
    ] as const) expect(s.netbox.createVm(b.id, vm).data.name).toBe(name);

    const res = await plan(b.id);
    expect(res.status).toBe(200);
    expect(byName(res.body)).toEqual({
      'web-01': 'warning:update_requires_vm_stop', 'ghost-01': 'blocked:guest_not_found', 'moved-01': 'blocked:guest_on_other_node',
      'kind-01': 'blocked:guest_kind_mismatch', 'ghost-02': 'blocked:guest_not_found',
      'ok-01': 'permitted:checks_passed', 'frac-01': 'blocked:fractional_vcpus', 'novmid-01': 'blocked:vmid_missing',
      'dup-a': 'blocked:duplicate_vmid', 'dup-b': 'blocked:duplicate_vmid', 'badnet-01': 'blocked:cloud_init_network_invalid',
      'clash-01': 'blocked:vmid_in_use', 'nonode-01': 'blocked:node_not_found', 'nostore-01': 'blocked:storage_not_found',
      'notpl-01': 'blocked:ostemplate_not_found', 'noos-01': 'blocked:ostemplate_missing',
    });
    const moved = res.body.verdicts.find((v: { name: string }) => v.name === 'moved-01');
    expect(moved.findings.map((f: { reason: string }) => f.reason)).toEqual(['guest_on_other_node', 'guest_kind_mismatch']);
    expect(res.body.verdicts.find((v: { name: string }) => v.name === 'clash-01').message).toBe('VMID 115 is already used by qemu \'someone-else\' on pve01');
    expect(res.body.permitted).toBe(false);
    expect(res.body.message).toMatch(/^VMID 600 does not exist on the cluster \(ghost-01\); VMID 190 is on node pve02, not pve01 \(moved-01\); VMID 105 is a qemu guest in Proxmox, not lxc \(kind-01\); and 10 more$/);
  });

  it('blocks a create on an offline node', async () => {
    const b = branch();
    s.netbox.createVm(b.id, qemu('offline-01', 535, { proxmox_node: 'pve02' }));
    s.proxbox.cluster.setNodeStatus('pve02', 'offline');
    try {
      expect(byName((await plan(b.id)).body)).toEqual({ 'offline-01': 'blocked:node_offline' });
    } finally {
      s.proxbox.cluster.setNodeStatus('pve02', 'online');
    }
  });

  it('blocks when NetBox says netbox-branching is not installed', async () => {
    s.netbox.control.addFault({ method: 'GET', path: '^/api/status/$', mode: 'fail', status: 200, body: { 'netbox-version': '4.5.3', plugins: {} } });
    const res = await plan(branch().id);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ permitted: false, message: MESSAGES.branchingMissing, diffs: [], verdicts: [] });
  });

  it('fails closed within its budget when NetBox is slow', async () => {
    const b = branch();
    s.netbox.control.addFault({ method: 'GET', path: '^/api/plugins/branching/changes/$', mode: 'slow', delayMs: 7_000, times: 1 });
    const res = await plan(b.id);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      permitted: false, branch: { id: b.id, name: `plan-${seq}` }, unavailable: { system: 'netbox', detail: 'NetBox did not answer within 4.5 s' },
      message: 'proxbox-intent preflight unavailable: NetBox did not answer within 4.5 s. Retry, or clear apply_to_proxmox.',
    });
  });

  it('fails closed within its budget when proxbox-api is slow, and when it is unreachable', async () => {
    const b = branch();
    s.netbox.createVm(b.id, qemu('slow-01', 536));
    s.proxbox.control.addFault({ method: 'POST', path: '^/intent/plan$', mode: 'slow', delayMs: 7_000, times: 1 });
    const slow = await plan(b.id);
    expect(slow.body).toMatchObject({
      permitted: false, unavailable: { system: 'proxbox-api', detail: 'proxbox-api did not answer POST /intent/plan within 4.5 s' },
      message: 'proxbox-intent preflight unavailable: proxbox-api did not answer POST /intent/plan within 4.5 s. Retry, or clear apply_to_proxmox.',
    });
    expect(slow.body.verdicts[0]).toMatchObject({ verdict: 'blocked', reason: 'backend_unavailable' });

    // A new URL needs the key again in the same request (the stored key never follows a URL change).
    const put = (url: string) => s.call(s.tokens.admin, 'PUT', '/api/v1/backend', { url, apiKey: PROXBOX_KEY });
    expect((await put(`http://127.0.0.1:${await closedPort()}`)).status).toBe(200);
    try {
      const down = await plan(b.id);
      expect(down.body).toMatchObject({ permitted: false, unavailable: { system: 'proxbox-api' } });
      expect(down.body.message).toMatch(/^proxbox-intent preflight unavailable: proxbox-api is unreachable \(.+\): connect ECONNREFUSED .+\. Retry, or clear apply_to_proxmox\.$/);
    } finally {
      await put(proxboxUrl);
    }
    expect((await plan(b.id)).body.permitted).toBe(true);
  });

  it('needs a token holding view, a known branch and a valid body', async () => {
    const b = branch();
    const anonymous = await fetch(`${s.api}/api/v1/branches/${b.id}/plan`, { method: 'POST' });
    expect(anonymous.status).toBe(401);
    await s.call(s.tokens.admin, 'POST', '/api/v1/users', { username: 'trigger-only', permissions: ['trigger_apply'] });
    const token = (await s.call(s.tokens.admin, 'POST', '/api/v1/users/trigger-only/tokens', {})).body.token;
    const denied = await plan(b.id, {}, token);
    expect(denied.status).toBe(403);
    expect(denied.body.code).toBe('permission_denied');
    const unknown = await plan(999_999);
    expect(unknown.status).toBe(404);
    expect(unknown.headers.get('content-type')).toContain('application/problem+json');
    expect(unknown.body).toMatchObject({ code: 'branch_not_found', detail: 'NetBox has no branch 999999.' });
    expect((await s.call(s.tokens.carol, 'GET', '/api/v1/branches/999999/plan-summary')).status).toBe(404);
    const bad = await plan(b.id, { actor: 5, extra: true });
    expect(bad.status).toBe(422);
    expect(bad.body.code).toBe('validation_failed');
    const empty = await s.call(s.tokens.carol, 'POST', `/api/v1/branches/${b.id}/plan`);
    expect(empty.status).toBe(200);
  });

  it('is what the NetBox shim expects: it shows our verdict and message, and fails closed on our errors', async () => {
    const b = branch();
    s.netbox.createVm(b.id, qemu('shim-01', 537));
    expect(await runShim(s.api, s.tokens.carol, b.id)).toEqual({ permitted: true, message: 'Plan permitted: every check passed' });
    s.netbox.createVm(b.id, qemu('shim-02', 538, {}, { vcpus: '0.50' }));
    expect(await runShim(s.api, s.tokens.carol, b.id)).toEqual({ permitted: false, message: 'vcpus 0.50 is not a whole number of cores (shim-02)' });
    expect(await runShim(s.api, s.tokens.carol, 999_999)).toEqual({
      permitted: false, message: 'proxbox-intent preflight unavailable: HTTP 404: NetBox has no branch 999999. Retry, or clear apply_to_proxmox.',
    });
    expect((await runShim(s.api, 'not-a-token', b.id)).message).toMatch(/^proxbox-intent preflight unavailable: HTTP 401: /);
  });

  it('checks the permissions of whoever merges, when NetBox knows them (the shim sends the actor)', async () => {
    expect((await s.call(s.tokens.admin, 'POST', '/api/v1/users', { username: 'frank', permissions: ['view', 'intent_create_vm'] })).status).toBe(201);
    const b = branch();
    s.netbox.createVm(b.id, qemu('actor-01', 539));
    s.netbox.createVm(b.id, lxc('actor-02', 540));
    const before = s.proxbox.control.callsTo('POST', '/intent/plan').length;
    expect(await runShim(s.api, s.tokens.carol, b.id)).toEqual({ permitted: true, message: 'Plan permitted: every check passed' });
    expect(s.proxbox.control.callsTo('POST', '/intent/plan').slice(before).map((c) => (c.body as { actor: unknown }).actor)).toEqual([null]);
    expect(await runShim(s.api, s.tokens.carol, b.id, 'frank')).toEqual({ permitted: false, message: 'permission denied: intent_create_lxc (actor-02)' });
    // Someone NetBox knows but we do not: every VM blocked in the guide's words, not an error.
    expect(await runShim(s.api, s.tokens.carol, b.id, 'stranger')).toEqual({
      permitted: false, message: 'permission denied: intent_create_vm (actor-01); permission denied: intent_create_lxc (actor-02)',
    });
    const asStranger = await plan(b.id, { actor: 'stranger' });
    expect(asStranger.status).toBe(200);
    expect(asStranger.body).toMatchObject({ actor: 'stranger', rbacChecked: true });
    // Names match exactly, as NetBox spells them.
    expect((await runShim(s.api, s.tokens.carol, b.id, 'Frank')).message).toContain('permission denied: intent_create_vm (actor-01)');
  });

  it('never wrote anywhere: across every plan above NetBox saw only GETs and proxbox-api only reads and /intent/plan', () => {
    expect(s.netbox.control.calls.length).toBeGreaterThan(0);
    expect(s.netbox.control.calls.filter((c) => c.method !== 'GET')).toEqual([]);
    const writes = s.proxbox.control.calls.filter((c) => c.method !== 'GET' && !(c.method === 'POST' && c.path === '/intent/plan'));
    expect(writes).toEqual([]);
    expect(s.proxbox.control.callsTo('POST', '/intent/plan').length).toBeGreaterThan(5);
  });
});
