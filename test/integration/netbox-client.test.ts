import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { NetboxClient } from '../../clients/netbox';
import { UpstreamError } from '../../clients/errors';
import { OBJECT_TYPE } from '../../contracts/netbox';
import { DEMO, createNetboxSimulator, type NetboxSimulator } from '../../simulators/netbox';

const V2 = 'nbt_simkey.simtoken';
const V1 = 'legacy-sim-token';
const BRANCHES = /^\/api\/plugins\/branching\/branches\//;

let sim: NetboxSimulator;
let base: string;

beforeAll(async () => {
  sim = createNetboxSimulator({ demo: true });
  base = (await sim.listen(0)).url;
});
afterAll(() => sim.close());
beforeEach(() => { sim.reset(); sim.control.clearCalls(); sim.control.clearFaults(); });

const client = (opts: { token?: string; baseUrl?: string; timeoutMs?: number; pageSize?: number; fetch?: typeof fetch } = {}) =>
  new NetboxClient({ baseUrl: opts.baseUrl ?? base, token: opts.token ?? V2, ...opts });

async function failure(p: Promise<unknown>): Promise<UpstreamError> {
  const err = await p.then(() => null, (e: unknown) => e);
  expect(err).toBeInstanceOf(UpstreamError);
  return err as UpstreamError;
}

/** A merged, opted-in branch that creates `n` VMs, each with one disk. */
async function mergedBranchWithVms(n: number, name = `vms-${n}`) {
  const branch = sim.createBranch({ name, owner: 'bob', customFields: { apply_to_proxmox: true } });
  for (let i = 0; i < n; i++) {
    const vm = sim.createVm(branch.id, {
      name: `pg-${i}`, cluster: DEMO.clusterId, vcpus: '1.00', memory: 512,
      custom_fields: { proxmox_vm_id: 700 + i, proxmox_vm_type: 'qemu', proxmox_node: 'pve01', proxmox_storage: 'local-lvm' },
    });
    sim.createVirtualDisk(branch.id, { virtual_machine: vm.pk, name: 'scsi0', size: 4096 });
  }
  await sim.mergeBranch(branch.id, 'alice');
  return branch;
}

describe('NetBox client: authentication (netbox.md §1)', () => {
  it('sends a v2 token as Bearer and a legacy token as Token, and both read the branch', async () => {
    const branch = sim.createBranch({ name: 'auth', owner: 'bob' });
    expect((await client({ token: V2 }).branch(branch.id)).schema_id).toBe(branch.schemaId);
    expect((await client({ token: V1 }).branch(branch.id)).schema_id).toBe(branch.schemaId);
    const headers = sim.control.callsTo('GET', `/api/plugins/branching/branches/${branch.id}/`).map((c) => [c.headers.authorization, c.headers.accept]);
    expect(headers).toEqual([[`Bearer ${V2}`, 'application/json'], [`Token ${V1}`, 'application/json']]);
  });

  it('reports a refused token as forbidden (403, what NetBox answers) with the path and the detail', async () => {
    const err = await failure(client({ token: 'nbt_wrong.key' }).branch(42));
    expect(err).toMatchObject({ system: 'netbox', kind: 'forbidden', status: 403, isConfiguration: true });
    expect(err.message).toMatch(/^NetBox refused GET \/api\/plugins\/branching\/branches\/42\/ \(403\): \S/);
    expect(err.message).not.toContain('nbt_wrong');
  });

  it('reports 401 as unauthorized', async () => {
    const strict = createNetboxSimulator({ demo: true, invalidTokenStatus: 401 });
    const url = (await strict.listen(0)).url;
    try {
      const err = await failure(client({ baseUrl: url, token: 'legacy-wrong' }).changeDiffs(42));
      expect(err).toMatchObject({ kind: 'unauthorized', status: 401, isConfiguration: true });
      expect(err.message).toContain('NetBox rejected the token (401) on GET /api/plugins/branching/changes/');
    } finally {
      await strict.close();
    }
  });
});

describe('NetBox client: errors that say what failed', () => {
  it('names the object that does not exist (404)', async () => {
    const err = await failure(client().branch(9999));
    expect(err).toMatchObject({ kind: 'not_found', status: 404 });
    expect(err.message).toBe('NetBox has no such object: GET /api/plugins/branching/branches/9999/ answered 404');
  });

  it('reports a closed port as unreachable, with the cause', async () => {
    const probe = createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const port = (probe.address() as AddressInfo).port;
    await new Promise<void>((r) => probe.close(() => r()));
    const err = await failure(client({ baseUrl: `http://127.0.0.1:${port}` }).branch(42));
    expect(err).toMatchObject({ kind: 'unreachable', status: null });
    expect(err.message).toMatch(/^NetBox is unreachable \(GET \/api\/plugins\/branching\/branches\/42\/\): .*ECONNREFUSED/);
  });

  it('reports a dropped connection as unreachable', async () => {
    sim.control.addFault({ path: BRANCHES.source, mode: 'drop', times: 1 });
    expect(await failure(client().branch(42))).toMatchObject({ kind: 'unreachable' });
  });

  it('reports a JSON body of the wrong shape as unexpected_body, naming the path and the field', async () => {
    const branch = sim.createBranch({ name: 'shape', owner: 'bob' });
    const body = { ...sim.branchJson(branch.id), schema_id: 12345678 };
    sim.control.addFault({ path: BRANCHES.source, mode: 'fail', status: 200, body, times: 1 });
    const err = await failure(client().branch(branch.id));
    expect(err.kind).toBe('unexpected_body');
    expect(err.message).toBe(`NetBox GET /api/plugins/branching/branches/${branch.id}/ returned an unexpected body: schema_id: Invalid input: expected string, received number`);
  });

  it('reports an HTML page (a proxy, a login page) as unexpected_body rather than as unreachable', async () => {
    const html: Server = createServer((_req, res) => { res.writeHead(200, { 'content-type': 'text/html' }); res.end('<html><body>Sign in</body></html>'); });
    await new Promise<void>((r) => html.listen(0, '127.0.0.1', r));
    try {
      const err = await failure(client({ baseUrl: `http://127.0.0.1:${(html.address() as AddressInfo).port}` }).branch(42));
      expect(err.kind).toBe('unexpected_body');
      expect(err.message).toBe('NetBox GET /api/plugins/branching/branches/42/ did not return JSON (is NETBOX_URL the NetBox root?): <html><body>Sign in</body></html>');
    } finally {
      await new Promise<void>((r) => html.close(() => r()));
    }
  });

  it('gives up on a response slower than its timeout, after one attempt', async () => {
    sim.control.addFault({ path: BRANCHES.source, mode: 'slow', delayMs: 3_000, times: 1 });
    const err = await failure(client({ timeoutMs: 200 }).branch(42));
    expect(err).toMatchObject({ kind: 'timeout' });
    expect(err.message).toBe('NetBox did not answer GET /api/plugins/branching/branches/42/ within 200 ms');
    expect(sim.control.callsTo('GET', BRANCHES)).toHaveLength(1);
  });

  it('makes exactly one attempt per call: retries belong to Temporal', async () => {
    sim.control.addFault({ path: BRANCHES.source, mode: 'fail', status: 503, times: 1 });
    expect(await failure(client().branch(42))).toMatchObject({ kind: 'server_error', status: 503 });
    sim.control.addFault({ path: BRANCHES.source, mode: 'fail', status: 429, times: 1 });
    expect(await failure(client().branch(42))).toMatchObject({ kind: 'throttled', status: 429 });
    expect(sim.control.callsTo('GET', BRANCHES)).toHaveLength(2);
  });
});

describe('NetBox client: paginated reads (netbox.md §1, §4)', () => {
  it('reads the ChangeDiffs of a branch with five VMs over three pages of two, each once', async () => {
    const branch = await mergedBranchWithVms(5);
    sim.control.clearCalls();
    const nb = client({ pageSize: 2 });
    const vms = await nb.changeDiffs(branch.id, OBJECT_TYPE.virtualMachine);
    expect(vms.map((d) => d.object_repr).sort()).toEqual(['pg-0', 'pg-1', 'pg-2', 'pg-3', 'pg-4']);
    expect(new Set(vms.map((d) => d.id)).size).toBe(5);
    const pages = sim.control.callsTo('GET', '/api/plugins/branching/changes/').map((c) => c.query);
    expect(pages.map((q) => [q.limit, q.offset])).toEqual([['2', '0'], ['2', '2'], ['2', '4']]);
    expect(pages.every((q) => q.branch_id === String(branch.id) && q.object_type === OBJECT_TYPE.virtualMachine)).toBe(true);
    const disks = await nb.changeDiffs(branch.id, OBJECT_TYPE.virtualDisk);
    expect(disks).toHaveLength(5);
    expect(new Set(disks.map((d) => (d.modified_data as { virtual_machine: number }).virtual_machine))).toEqual(new Set(vms.map((d) => d.object_id)));
  });

  it('misses nothing when NetBox caps the page below the size asked for (MAX_PAGE_SIZE)', async () => {
    const branch = await mergedBranchWithVms(5);
    sim.control.clearCalls();
    // A NetBox whose MAX_PAGE_SIZE is 2 answers at most 2 results whatever limit is asked.
    const capped: typeof fetch = (input, init) => {
      const req = new Request(input, init);
      const url = new URL(req.url);
      if (url.searchParams.has('limit')) url.searchParams.set('limit', '2');
      return fetch(new Request(url, req));
    };
    const vms = await client({ pageSize: 4, fetch: capped }).changeDiffs(branch.id);
    expect(vms.map((d) => d.object_repr).sort()).toEqual(['pg-0', 'pg-1', 'pg-2', 'pg-3', 'pg-4']);
    expect(sim.control.callsTo('GET', '/api/plugins/branching/changes/').map((c) => c.query.offset)).toEqual(['0', '2', '4']);
  });

  it('passes repeated filters through (status OR status) for the reconciler sweep', async () => {
    const merged = await mergedBranchWithVms(1, 'merged');
    const archived = await mergedBranchWithVms(1, 'archived');
    sim.archiveBranch(archived.id);
    sim.createBranch({ name: 'open', owner: 'bob', customFields: { apply_to_proxmox: true } });
    const other = sim.createBranch({ name: 'not-opted-in', owner: 'bob' });
    sim.createVm(other.id, { name: 'x', cluster: DEMO.clusterId, custom_fields: { proxmox_vm_id: 799, proxmox_vm_type: 'qemu', proxmox_node: 'pve01' } });
    await sim.mergeBranch(other.id, 'alice');
    const found = await client({ pageSize: 1 }).branches({ status: ['merged', 'archived'], cf_apply_to_proxmox: 'true' });
    expect(found.map((b) => b.id).sort()).toEqual([merged.id, archived.id].sort());
    const events = await client().branchEvents({ type: 'merged' });
    expect(events.map((e) => e.branch.id).sort()).toEqual([merged.id, archived.id, other.id].sort());
  });
});
