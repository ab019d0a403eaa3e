import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Branch, BranchEvent, BranchMergedWebhook, ChangeDiff, Paginated, VirtualDisk, VirtualMachine, toEpochMs } from '../../contracts/netbox';
import { applyRunId } from '../../domain/run-identity';
import { verifyWebhookSignature } from '../../domain/webhook-signature';
import { DEMO, SimulatorError, createNetboxSimulator, type NetboxSimulator } from '../../simulators/netbox';
import { startCaptureReceiver, type CaptureReceiver } from '../../simulators/netbox/receiver';

// Untyped bodies of /_sim answers; assertions and zod schemas check them.
type Loose = any;
const AUTH = { Authorization: 'Token legacy-sim-token', Accept: 'application/json' };
const SECRET = 'webhook-secret';
const REST_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/;

let clockMs = Date.UTC(2026, 6, 24, 14, 3, 11, 902);
const tick = (ms = 1) => { clockMs += ms; };

let sim: NetboxSimulator;
let base: string;
let receiver: CaptureReceiver;

async function get<T>(path: string, schema: { parse(v: unknown): T }, branch?: string): Promise<T> {
  const res = await fetch(`${base}${path}`, { headers: branch ? { ...AUTH, 'X-NetBox-Branch': branch } : AUTH });
  expect(res.status, path).toBe(200);
  return schema.parse(await res.json());
}
const status = async (path: string) => (await fetch(`${base}${path}`, { headers: AUTH })).status;
const diffsOf = (branchId: number, q = '') => get(`/api/plugins/branching/changes/?branch_id=${branchId}&limit=1000${q}`, Paginated(ChangeDiff)).then((p) => p.results);
const diffFor = async (branchId: number, objectType: string, objectId: number) => {
  const found = (await diffsOf(branchId, `&object_type=${objectType}&object_id=${objectId}`));
  expect(found, `${objectType} ${objectId}`).toHaveLength(1);
  return found[0]!;
};
const VM = 'virtualization.virtualmachine';
const DISK = 'virtualization.virtualdisk';
const IFACE = 'virtualization.vminterface';

beforeAll(async () => {
  sim = createNetboxSimulator({ demo: true, now: () => clockMs });
  base = (await sim.listen(0)).url;
});
afterAll(() => sim.close());
beforeEach(async () => {
  sim.reset();
  receiver = await startCaptureReceiver();
});
afterEach(() => receiver.close());

describe('ChangeDiff semantics (netbox.md §4)', () => {
  it('records the netbox.md §9.2 demo branch as one net diff per object', async () => {
    const { branch, web03 } = sim.buildDemoBranch();
    const create = await diffFor(branch.id, VM, web03.pk);
    expect(create.action).toEqual({ value: 'create', label: 'Created' });
    expect(create.display).toBe(`Created virtual machine web-03 (${web03.pk})`);
    expect(create.original_data).toBeNull();
    expect(create.current_data).toBeNull();
    expect(create.diff).toEqual({ original: {}, modified: {}, current: {} });
    expect(create.modified_data).toMatchObject({
      name: 'web-03', cluster: 5, vcpus: '2.00', memory: 2048, tags: ['prod', 'web'],
      custom_fields: { proxmox_vm_id: 312, proxmox_node: 'pve01', cloud_init_user: 'ubuntu', cloud_init_user_data: 'user=local:snippets/web-03.yaml' },
    });
    // NetBox updates the disk aggregate without logging a change, so the VM's diff data is stale.
    expect(create.modified_data).toMatchObject({ disk: null, virtual_disk_count: 0 });
    expect(create.object).toMatchObject({ id: web03.pk, name: 'web-03' });

    const update = await diffFor(branch.id, VM, DEMO.vms.db01);
    expect(update.action.value).toBe('update');
    expect(update.diff).toEqual({
      original: { memory: 4096, vcpus: '2.00' }, modified: { memory: 8192, vcpus: '4.00' }, current: { memory: 4096, vcpus: '2.00' },
    });
    expect(update.current_data).toEqual(update.original_data);
    expect(update.conflicts).toBeNull();

    const del = await diffFor(branch.id, VM, DEMO.vms.oldApp02);
    expect(del.action).toEqual({ value: 'delete', label: 'Deleted' });
    expect(del.modified_data).toBeNull();
    expect(del.object).toBeNull();
    expect(del.object_repr).toBe('old-app-02');
    expect(del.original_data).toMatchObject({ disk: 8192, interface_count: 1, virtual_disk_count: 1, custom_fields: { proxmox_vm_id: 190, proxmox_vm_type: 'lxc', proxmox_node: 'pve02' } });
    expect(del.current_data).toEqual(del.original_data);
  });

  it('adds delete rows for the children of a deleted VM', async () => {
    const { branch } = sim.buildDemoBranch();
    const children = (await diffsOf(branch.id)).filter((d) => d.object_type !== VM && d.action.value === 'delete');
    expect(children.map((d) => [d.object_type, d.object_repr, d.original_data?.virtual_machine]).sort()).toEqual([
      [DISK, 'rootfs', DEMO.vms.oldApp02], [IFACE, 'eth0', DEMO.vms.oldApp02],
    ]);
    expect(children.every((d) => d.modified_data === null)).toBe(true);
  });

  it('keeps a create that was deleted in the branch as action create with null modified_data', async () => {
    const b = sim.createBranch({ name: 'b', owner: 'bob' });
    const vm = sim.createVm(b.id, { name: 'temp', vcpus: 1 });
    const disk = sim.createVirtualDisk(b.id, { virtual_machine: vm.pk, name: 'scsi0', size: 1024 });
    sim.updateVm(b.id, vm.pk, { memory: 512 });
    sim.deleteVm(b.id, vm.pk);
    const vmDiff = await diffFor(b.id, VM, vm.pk);
    expect(vmDiff.action.value).toBe('create');
    expect(vmDiff.original_data).toBeNull();
    expect(vmDiff.modified_data).toBeNull();
    expect(vmDiff.object).toBeNull();
    const diskDiff = await diffFor(b.id, DISK, disk.pk);
    expect([diskDiff.action.value, diskDiff.modified_data]).toEqual(['create', null]);
    expect(await status(`/api/virtualization/virtual-machines/${vm.pk}/`)).toBe(404);
    await sim.mergeBranch(b.id, 'alice');
    expect(await status(`/api/virtualization/virtual-machines/${vm.pk}/`)).toBe(404);
  });

  it('turns update-then-delete into a delete whose original_data predates the first update', async () => {
    const b = sim.createBranch({ name: 'b', owner: 'bob' });
    sim.updateVm(b.id, DEMO.vms.db01, { memory: 16384 });
    tick();
    sim.updateVm(b.id, DEMO.vms.db01, { vcpus: 8 });
    sim.deleteVm(b.id, DEMO.vms.db01);
    const d = await diffFor(b.id, VM, DEMO.vms.db01);
    expect(d.action.value).toBe('delete');
    expect(d.original_data).toMatchObject({ memory: 4096, vcpus: '2.00', custom_fields: { proxmox_vm_id: 105 } });
    expect(d.modified_data).toBeNull();
    expect(d.diff).toEqual({ original: {}, modified: {}, current: {} });
  });

  it('collapses repeated updates into one diff with only the altered fields', async () => {
    const b = sim.createBranch({ name: 'b', owner: 'bob' });
    sim.updateVm(b.id, DEMO.vms.db01, { memory: 16384 });
    sim.updateVm(b.id, DEMO.vms.db01, { custom_fields: { proxmox_storage: 'ceph' }, tags: ['prod', 'db', 'critical'] });
    const d = await diffFor(b.id, VM, DEMO.vms.db01);
    expect(Object.keys(d.diff.modified)).toEqual(['custom_fields', 'memory', 'tags']);
    expect(d.modified_data).toMatchObject({ memory: 16384, tags: ['critical', 'db', 'prod'], custom_fields: { proxmox_storage: 'ceph', proxmox_vm_id: 105 } });
    expect(d.original_data).toMatchObject({ memory: 4096, tags: ['db', 'prod'] });
    sim.updateVm(b.id, DEMO.vms.db01, { memory: 4096, custom_fields: { proxmox_storage: 'local-lvm' }, tags: ['db', 'prod'] });
    const back = await diffFor(b.id, VM, DEMO.vms.db01);
    expect(back.action.value).toBe('update');
    expect(back.diff).toEqual({ original: {}, modified: {}, current: {} });
    expect(back.id).toBe(d.id);
  });

  it('tracks main in current_data while ready, reports conflicts, and freezes current_data at merge', async () => {
    const b = sim.createBranch({ name: 'b', owner: 'bob' });
    sim.updateVm(b.id, DEMO.vms.db01, { memory: 8192 });
    sim.updateMainVm(DEMO.vms.db01, { memory: 6144, description: 'changed in main' });
    const d = await diffFor(b.id, VM, DEMO.vms.db01);
    expect(d.current_data).toMatchObject({ memory: 6144, description: 'changed in main' });
    expect(d.original_data).toMatchObject({ memory: 4096 });
    expect(d.conflicts).toEqual(['memory']);
    expect((await diffsOf(b.id, '&has_conflicts=true')).map((x) => x.id)).toEqual([d.id]);
    expect(await diffsOf(b.id, '&has_conflicts=false')).toEqual([]);

    await sim.mergeBranch(b.id, 'alice');
    const main = await get(`/api/virtualization/virtual-machines/${DEMO.vms.db01}/`, VirtualMachine);
    expect(main.memory).toBe(8192);
    // The merge replays altered fields only, so main's own description change survives.
    expect(main.description).toBe('changed in main');
    const after = await diffFor(b.id, VM, DEMO.vms.db01);
    expect(after.current_data).toMatchObject({ memory: 6144 });
    sim.updateMainVm(DEMO.vms.db01, { memory: 1 });
    expect((await diffFor(b.id, VM, DEMO.vms.db01)).current_data).toMatchObject({ memory: 6144 });
  });

  it('conflicts on a delete when main changed the object since the branch touched it', async () => {
    const b = sim.createBranch({ name: 'b', owner: 'bob' });
    sim.deleteVm(b.id, DEMO.vms.oldApp02);
    sim.updateMainVm(DEMO.vms.oldApp02, { custom_fields: { proxmox_node: 'pve03' } });
    const d = await diffFor(b.id, VM, DEMO.vms.oldApp02);
    expect(d.conflicts).toEqual(['custom_fields']);
    expect(d.original_data).toMatchObject({ custom_fields: { proxmox_node: 'pve02' } });
    expect(d.current_data).toMatchObject({ custom_fields: { proxmox_node: 'pve03' } });
  });

  it('rejects edits to a branch that is not ready and to objects that do not exist', () => {
    const b = sim.createBranch({ name: 'b', owner: 'bob' });
    expect(() => sim.updateVm(b.id, 999, { memory: 1 })).toThrow(SimulatorError);
    expect(() => sim.createVirtualDisk(b.id, { virtual_machine: 999, name: 'x', size: 1 })).toThrow(/object does not exist/);
    expect(() => sim.createVm(b.id, { name: 'x', vcpus: 'lots' })).toThrow(SimulatorError);
    sim.setBranchStatus(b.id, 'merging');
    expect(() => sim.createVm(b.id, { name: 'late' })).toThrow(/not ready/);
  });

  it('deleting a branch deletes its ChangeDiffs and events', async () => {
    const b = sim.createBranch({ name: 'b', owner: 'bob' });
    sim.createVm(b.id, { name: 'x' });
    expect(await diffsOf(b.id)).toHaveLength(1);
    sim.deleteBranch(b.id);
    expect(await status(`/api/plugins/branching/changes/?branch_id=${b.id}`)).toBe(400);
    expect((await get('/api/plugins/branching/changes/', Paginated(ChangeDiff))).count).toBe(0);
    expect((await get(`/api/plugins/branching/branch-events/`, Paginated(BranchEvent))).count).toBe(0);
  });

  it('gives each branch a random 8-character lowercase alphanumeric schema_id', () => {
    const ids = Array.from({ length: 20 }, (_, i) => sim.createBranch({ name: `b${i}`, owner: 'bob' }).schemaId);
    expect(ids.every((id) => /^[a-z0-9]{8}$/.test(id))).toBe(true);
    expect(new Set(ids).size).toBe(20);
  });
});

describe('merge (netbox.md §2, §5, §9.3)', () => {
  it('applies the branch to main, keeping the pks of creates', async () => {
    const { branch, web03, cache01 } = sim.buildDemoBranch();
    await sim.mergeBranch(branch.id, 'alice');
    const web = await get(`/api/virtualization/virtual-machines/${web03.pk}/`, VirtualMachine);
    expect(web).toMatchObject({ name: 'web-03', vcpus: 2, memory: 2048, disk: 32768, virtual_disk_count: 0 + 1 });
    const cache = await get(`/api/virtualization/virtual-machines/${cache01.pk}/`, VirtualMachine);
    expect(cache.custom_fields).toMatchObject({ proxmox_vm_id: 320, proxmox_vm_type: 'lxc', proxmox_ostemplate: DEMO.lxcTemplate });
    expect(cache.role?.id).toBe(DEMO.roles.lxc);
    const disks = await get(`/api/virtualization/virtual-disks/?virtual_machine_id=${web03.pk}`, Paginated(VirtualDisk));
    expect(disks.results.map((d) => [d.name, d.size])).toEqual([['scsi0', 32768]]);
    expect((await get(`/api/virtualization/virtual-machines/${DEMO.vms.db01}/`, VirtualMachine))).toMatchObject({ vcpus: 4, memory: 8192 });
    expect(await status(`/api/virtualization/virtual-machines/${DEMO.vms.oldApp02}/`)).toBe(404);
    const orphans = await get('/api/virtualization/virtual-disks/', Paginated(VirtualDisk));
    expect(orphans.results.some((d) => d.virtual_machine.id === DEMO.vms.oldApp02)).toBe(false);
    // After the merge, `object` resolves in main: null for the deleted VM, the VM for the create.
    expect((await diffFor(branch.id, VM, DEMO.vms.oldApp02)).object).toBeNull();
    expect((await diffFor(branch.id, VM, web03.pk)).object).toMatchObject({ id: web03.pk });
  });

  it('sets status, merged_time with microseconds and merged_by, then records one merged event', async () => {
    const { branch } = sim.buildDemoBranch();
    tick(5);
    const { deliveries } = await sim.mergeBranch(branch.id, 'alice');
    expect(deliveries).toEqual([]);
    const rest = await get(`/api/plugins/branching/branches/${branch.id}/`, Branch);
    expect(rest.status).toEqual({ value: 'merged', label: 'Merged' });
    expect(rest.merged_time).toMatch(REST_TIME);
    expect(rest.merged_by).toMatchObject({ id: DEMO.users.alice, username: 'alice' });
    expect(rest.owner?.username).toBe('bob');
    expect(rest.custom_fields).toEqual({ apply_to_proxmox: true, apply_destroy_confirmed: true });
    expect(Date.parse(rest.last_updated)).toBeGreaterThanOrEqual(Date.parse(rest.merged_time!));
    const events = await get(`/api/plugins/branching/branch-events/?type=merged`, Paginated(BranchEvent));
    expect(events.count).toBe(1);
    expect(events.results[0]).toMatchObject({ branch: { id: branch.id, status: { value: 'merged' } }, user: { username: 'alice' } });
    expect(toEpochMs(events.results[0]!.time)).toBeGreaterThanOrEqual(toEpochMs(rest.merged_time!));
  });

  it('delivers a signed branch_merged webhook whose body is netbox.md §9.3 and whose run id matches REST', async () => {
    sim.addWebhookTarget({ url: `${receiver.url}/api/v1/hooks/netbox`, secret: SECRET, additionalHeaders: { Authorization: 'Bearer svc-token' } });
    const { branch } = sim.buildDemoBranch();
    const { deliveries } = await sim.mergeBranch(branch.id, 'alice');
    expect(deliveries.map((d) => [d.outcome, d.status])).toEqual([['delivered', 200]]);
    expect(receiver.received).toHaveLength(1);
    const req = receiver.received[0]!;
    expect(req).toMatchObject({ method: 'POST', path: '/api/v1/hooks/netbox' });
    expect(req.headers['content-type']).toBe('application/json');
    expect(req.headers.authorization).toBe('Bearer svc-token');
    expect(verifyWebhookSignature(SECRET, req.rawBody, req.headers['x-hook-signature'])).toBe(true);
    expect(verifyWebhookSignature('wrong', req.rawBody, req.headers['x-hook-signature'])).toBe(false);
    // Python's json.dumps separators: a re-serialised body no longer matches the signature.
    expect(req.rawBody).toContain('"event": "branch_merged", ');
    expect(verifyWebhookSignature(SECRET, JSON.stringify(JSON.parse(req.rawBody)), req.headers['x-hook-signature'])).toBe(false);

    const body = BranchMergedWebhook.parse(JSON.parse(req.rawBody));
    expect(Object.keys(body)).toEqual(['event', 'timestamp', 'object_type', 'username', 'request_id', 'data']);
    expect(body).toMatchObject({ event: 'branch_merged', object_type: 'netbox_branching.branch', username: 'alice', request_id: null });
    expect(body.timestamp).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}\+00:00$/);
    expect(body.data).toMatchObject({
      id: branch.id, name: 'add-web-vms', owner: DEMO.users.bob, schema_id: branch.schemaId, status: 'merged',
      merged_by: DEMO.users.alice, merge_strategy: 'iterative', applied_migrations: [], tags: [],
      custom_fields: { apply_to_proxmox: true, apply_destroy_confirmed: true },
    });
    expect(body.data.merged_time).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
    const rest = await get(`/api/plugins/branching/branches/${branch.id}/`, Branch);
    expect(applyRunId(body.data.schema_id, body.data.merged_time!)).toBe(applyRunId(rest.schema_id, rest.merged_time!));
    expect(toEpochMs(body.data.merged_time!)).toBe(toEpochMs(rest.merged_time!));
  });

  it('adds "model": "branch" on NetBox 4.4 and leaves it out on 4.6', async () => {
    for (const version of ['4.4', '4.6'] as const) {
      const other = createNetboxSimulator({ version, demo: true });
      try {
        other.addWebhookTarget({ url: receiver.url, secret: SECRET });
        const { branch } = other.buildDemoBranch();
        const { deliveries } = await other.mergeBranch(branch.id, 'alice');
        const body = JSON.parse(deliveries[0]!.body) as Record<string, unknown>;
        expect(BranchMergedWebhook.parse(body).data.id, version).toBe(branch.id);
        if (version === '4.4') expect(Object.keys(body)).toEqual(['event', 'timestamp', 'object_type', 'model', 'username', 'request_id', 'data']);
        else expect(body, version).not.toHaveProperty('model');
        expect(body).not.toHaveProperty('request');
      } finally {
        await other.close();
      }
    }
    expect(receiver.received).toHaveLength(2);
  });

  it('sends no signature without a secret, honours the opt-in condition and merges action data', async () => {
    sim.addWebhookTarget({ url: `${receiver.url}/plain` });
    sim.addWebhookTarget({ url: `${receiver.url}/opted`, secret: SECRET, onlyOptedIn: true, actionData: { source: 'rule-7' } });
    const plain = sim.createBranch({ name: 'not-opted', owner: 'bob' });
    sim.createVm(plain.id, { name: 'x' });
    await sim.mergeBranch(plain.id, 'alice');
    expect(receiver.received.map((r) => r.path)).toEqual(['/plain']);
    expect(receiver.received[0]!.headers).not.toHaveProperty('x-hook-signature');

    const { branch } = sim.buildDemoBranch();
    await sim.mergeBranch(branch.id, 'alice');
    expect(receiver.received.map((r) => r.path)).toEqual(['/plain', '/plain', '/opted']);
    expect(JSON.parse(receiver.received[2]!.rawBody).data.source).toBe('rule-7');
  });

  it('does not fire for a merge without changes, and refuses to merge a branch that is not ready', async () => {
    sim.addWebhookTarget({ url: receiver.url, secret: SECRET });
    const empty = sim.createBranch({ name: 'empty', owner: 'bob', customFields: { apply_to_proxmox: true } });
    const { branch, deliveries } = await sim.mergeBranch(empty.id, 'alice');
    expect(branch.status).toBe('merged');
    expect(deliveries).toEqual([]);
    expect(receiver.received).toEqual([]);
    await expect(sim.mergeBranch(empty.id, 'alice')).rejects.toMatchObject({ status: 409 });
    const other = sim.createBranch({ name: 'other', owner: 'bob' });
    await expect(sim.mergeBranch(other.id, 'nobody')).rejects.toMatchObject({ status: 400 });
  });
});

describe('revert, re-merge and archive (netbox.md §2)', () => {
  it('revert clears merged fields and restores main; a second merge has a new merged_time and run id', async () => {
    sim.addWebhookTarget({ url: receiver.url, secret: SECRET });
    const { branch, web03 } = sim.buildDemoBranch();
    await sim.mergeBranch(branch.id, 'alice');
    const first = await get(`/api/plugins/branching/branches/${branch.id}/`, Branch);

    sim.revertBranch(branch.id, 'alice');
    const reverted = await get(`/api/plugins/branching/branches/${branch.id}/`, Branch);
    expect(reverted).toMatchObject({ status: { value: 'ready' }, merged_time: null, merged_by: null });
    expect(await status(`/api/virtualization/virtual-machines/${web03.pk}/`)).toBe(404);
    expect(await status(`/api/virtualization/virtual-machines/${DEMO.vms.oldApp02}/`)).toBe(200);
    expect((await get(`/api/virtualization/virtual-disks/?virtual_machine_id=${DEMO.vms.oldApp02}`, Paginated(VirtualDisk))).count).toBe(1);
    expect((await get(`/api/virtualization/virtual-machines/${DEMO.vms.db01}/`, VirtualMachine)).vcpus).toBe(2);
    expect(sim.branchChangeData(sim.branch(branch.id))).toMatchObject({ merge_strategy: null, merged_by: null, merged_time: null });

    // The clock has not moved: the second merge still gets a later millisecond.
    await sim.mergeBranch(branch.id, 'alice');
    const second = await get(`/api/plugins/branching/branches/${branch.id}/`, Branch);
    expect(toEpochMs(second.merged_time!)).toBeGreaterThan(toEpochMs(first.merged_time!));
    expect(applyRunId(second.schema_id, second.merged_time!)).not.toBe(applyRunId(first.schema_id, first.merged_time!));
    const types = (await get(`/api/plugins/branching/branch-events/?ordering=id`, Paginated(BranchEvent))).results.map((e) => e.type.value);
    expect(types).toEqual(['provisioned', 'merged', 'reverted', 'merged']);
    const times = receiver.received.map((r) => BranchMergedWebhook.parse(JSON.parse(r.rawBody)).data.merged_time);
    expect(times).toHaveLength(2);
    expect(times[0]).not.toBe(times[1]);
    expect(await status(`/api/virtualization/virtual-machines/${web03.pk}/`)).toBe(200);
  });

  it('archive requires merged, keeps merged_time, last_updated and the diffs, and drops the schema', async () => {
    const { branch } = sim.buildDemoBranch();
    expect(() => sim.archiveBranch(branch.id)).toThrow(/cannot be archived/);
    expect(() => sim.revertBranch(branch.id)).toThrow(/cannot be reverted/);
    await sim.mergeBranch(branch.id, 'alice');
    const merged = await get(`/api/plugins/branching/branches/${branch.id}/`, Branch);
    tick(1000);
    sim.archiveBranch(branch.id, 'alice');
    const archived = await get(`/api/plugins/branching/branches/${branch.id}/`, Branch);
    expect(archived.status.value).toBe('archived');
    expect(archived.merged_time).toBe(merged.merged_time);
    expect(archived.last_updated).toBe(merged.last_updated);
    expect((await diffsOf(branch.id)).length).toBe(9);
    const res = await fetch(`${base}/api/virtualization/virtual-machines/`, { headers: { ...AUTH, 'X-NetBox-Branch': branch.schemaId } });
    expect(res.status).toBe(400);
    const events = await get('/api/plugins/branching/branch-events/?type=archived', Paginated(BranchEvent));
    expect(events.results.map((e) => e.branch.status.value)).toEqual(['archived']);
  });
});

describe('webhook delivery controls', () => {
  it('drops the next deliveries without sending them', async () => {
    sim.addWebhookTarget({ url: receiver.url, secret: SECRET });
    sim.dropNextDeliveries(1);
    const { branch } = sim.buildDemoBranch();
    const { deliveries } = await sim.mergeBranch(branch.id, 'alice');
    expect(deliveries.map((d) => [d.outcome, d.status])).toEqual([['dropped', null]]);
    expect(receiver.received).toEqual([]);
    const next = sim.createBranch({ name: 'next', owner: 'bob' });
    sim.createVm(next.id, { name: 'n' });
    await sim.mergeBranch(next.id, 'alice');
    expect(receiver.received).toHaveLength(1);
    expect(sim.deliveries.map((d) => d.outcome)).toEqual(['dropped', 'delivered']);
  });

  it('duplicates the next deliveries with identical bodies and signatures', async () => {
    sim.addWebhookTarget({ url: receiver.url, secret: SECRET });
    sim.duplicateNextDeliveries(1);
    const { branch } = sim.buildDemoBranch();
    const { deliveries } = await sim.mergeBranch(branch.id, 'alice');
    expect(deliveries.map((d) => [d.outcome, d.status, d.duplicate])).toEqual([['delivered', 200, false], ['delivered', 200, true]]);
    expect(receiver.received).toHaveLength(2);
    const [a, b] = receiver.received;
    expect(a!.rawBody).toBe(b!.rawBody);
    expect(a!.headers['x-hook-signature']).toBe(b!.headers['x-hook-signature']);
    expect(verifyWebhookSignature(SECRET, b!.rawBody, b!.headers['x-hook-signature'])).toBe(true);
  });

  it('records failures without retrying, for error answers and unreachable receivers', async () => {
    receiver.respondWith(500);
    sim.addWebhookTarget({ url: receiver.url, secret: SECRET });
    sim.addWebhookTarget({ url: 'http://127.0.0.1:9/unreachable', secret: SECRET });
    const { branch } = sim.buildDemoBranch();
    const { deliveries } = await sim.mergeBranch(branch.id, 'alice');
    expect(deliveries.map((d) => [d.outcome, d.status])).toEqual([['failed', 500], ['failed', null]]);
    expect(deliveries[1]!.error).toEqual(expect.any(String));
    expect(receiver.received).toHaveLength(1);
    expect(sim.branch(branch.id).status).toBe('merged');
  });

  it('holds deliveries while paused and sends them on resume', async () => {
    sim.addWebhookTarget({ url: receiver.url, secret: SECRET });
    sim.pauseDeliveries();
    const { branch } = sim.buildDemoBranch();
    const { deliveries } = await sim.mergeBranch(branch.id, 'alice');
    expect(deliveries.map((d) => d.outcome)).toEqual(['queued']);
    expect(receiver.received).toEqual([]);
    const sent = await sim.resumeDeliveries();
    expect(sent.map((d) => [d.outcome, d.status])).toEqual([['delivered', 200]]);
    expect(receiver.received).toHaveLength(1);
  });

  it('sends arbitrary payloads: signed, unsigned, wrongly signed or raw', async () => {
    const target = { url: receiver.url, secret: SECRET };
    await sim.sendWebhook(target, { event: 'object_updated', data: {} });
    await sim.sendWebhook(target, { event: 'branch_merged' }, { signature: null });
    await sim.sendWebhook(target, { event: 'branch_merged' }, { signature: 'ab'.repeat(64) });
    const raw = await sim.sendWebhook(target, 'not json at all');
    expect(raw.status).toBe(200);
    const [signed, unsigned, wrong, text] = receiver.received;
    expect(verifyWebhookSignature(SECRET, signed!.rawBody, signed!.headers['x-hook-signature'])).toBe(true);
    expect(unsigned!.headers).not.toHaveProperty('x-hook-signature');
    expect(verifyWebhookSignature(SECRET, wrong!.rawBody, wrong!.headers['x-hook-signature'])).toBe(false);
    expect(text!.rawBody).toBe('not json at all');
    expect(verifyWebhookSignature(SECRET, text!.rawBody, text!.headers['x-hook-signature'])).toBe(true);
  });
});

describe('/_sim routes drive the model from another process', () => {
  const sim$ = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${base}/_sim${path}`, {
      method, headers: body === undefined ? {} : { 'Content-Type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : null) as Loose };
  };

  it('builds, edits, merges and inspects a branch over HTTP', async () => {
    expect((await sim$('POST', '/webhook-targets', { url: receiver.url, secret: SECRET })).status).toBe(201);
    expect((await sim$('POST', '/deliveries/duplicate', { count: 1 })).status).toBe(204);
    const created = await sim$('POST', '/branches', { name: 'http-branch', owner: 'bob', customFields: { apply_to_proxmox: true } });
    expect(created.status).toBe(201);
    const branch = Branch.parse(created.body);
    const vm = await sim$('POST', `/branches/${branch.id}/vms`, { name: 'http-vm', vcpus: 2, memory: 1024, custom_fields: { proxmox_vm_id: 400 } });
    expect(vm).toMatchObject({ status: 201, body: { object_type: VM, data: { vcpus: '2.00', custom_fields: { proxmox_vm_id: 400 } } } });
    expect((await sim$('POST', `/branches/${branch.id}/virtual-disks`, { virtual_machine: vm.body.id, name: 'scsi0', size: 4096 })).status).toBe(201);
    expect((await sim$('PATCH', `/branches/${branch.id}/vms/${DEMO.vms.db01}`, { memory: 2048 })).status).toBe(200);
    expect((await sim$('DELETE', `/branches/${branch.id}/vms/${DEMO.vms.oldApp02}`)).status).toBe(204);
    expect((await sim$('POST', `/branches/${branch.id}/bogus`, {})).status).toBe(404);
    expect((await diffsOf(branch.id)).length).toBe(6);

    const merged = await sim$('POST', `/branches/${branch.id}/merge`, { username: 'alice' });
    expect(merged.status).toBe(200);
    expect(Branch.parse(merged.body.branch).status.value).toBe('merged');
    expect(merged.body.deliveries.map((d: { duplicate: boolean }) => d.duplicate)).toEqual([false, true]);
    expect((await sim$('GET', '/deliveries')).body).toHaveLength(2);
    expect((await sim$('POST', `/branches/${branch.id}/merge`, { username: 'alice' })).status).toBe(409);
    expect((await sim$('POST', `/branches/${branch.id}/revert`, {})).body.status.value).toBe('ready');
    expect((await sim$('PATCH', `/branches/${branch.id}`, { customFields: { apply_to_proxmox: false }, status: 'failed' })).body)
      .toMatchObject({ status: { value: 'failed' }, custom_fields: { apply_to_proxmox: false } });
    expect((await sim$('POST', '/branches', { name: '' })).status).toBe(400);
  });

  it('seeds the demo on a bare simulator, edits main, and resets', async () => {
    const bare = createNetboxSimulator();
    const url = (await bare.listen(0)).url;
    const call = async (method: string, path: string, body?: unknown) => {
      const res = await fetch(`${url}/_sim${path}`, { method, headers: { 'Content-Type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
      return { status: res.status, body: (res.status === 204 ? null : await res.json()) as Loose };
    };
    try {
      expect((await call('GET', '/state')).body.main[VM]).toEqual([]);
      expect((await call('POST', '/demo/seed')).status).toBe(204);
      const demo = await call('POST', '/demo/branch', {});
      expect(demo.status).toBe(201);
      expect(demo.body.branch).toMatchObject({ id: 42, name: 'add-web-vms', custom_fields: { apply_to_proxmox: true, apply_destroy_confirmed: true } });
      expect(demo.body.web03).toMatchObject({ id: 812, data: { name: 'web-03' } });
      expect(demo.body.cache01.data.custom_fields.proxmox_ostemplate).toBe(DEMO.lxcTemplate);
      expect((await call('PATCH', `/main/vms/${DEMO.vms.db01}`, { custom_fields: { proxbox_intent_state: 'failed' } })).body.data.custom_fields.proxbox_intent_state).toBe('failed');
      expect((await call('POST', '/main/vms', { name: 'direct', id: 900 })).body.id).toBe(900);
      expect((await call('DELETE', '/custom-fields/proxmox_vm_id')).status).toBe(204);
      expect((await call('DELETE', '/custom-fields/proxmox_vm_id')).status).toBe(404);
      expect((await call('POST', '/reset')).status).toBe(204);
      const state = (await call('GET', '/state')).body;
      expect(state.branches).toEqual([]);
      expect(state.main[VM]).toEqual([]);
      expect(bare.customFieldByName('proxmox_vm_id')).toBeDefined();
    } finally {
      await bare.close();
    }
  });
});
