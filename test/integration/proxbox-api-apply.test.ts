import { describe, expect, it } from 'vitest';
import { ApplyResponse } from '../../contracts/proxbox-api';
import { startTestProxbox, type Json, type TestProxbox } from '../../simulators/proxbox-api/test-client';
import { useProxboxSimulator } from '../support/proxbox-simulator';
import { parseUpid } from '../../simulators/proxbox-api/upid';

const TEMPLATE = 'local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst';
const UPID = /^UPID:[^:]+:[0-9A-F]{8}:[0-9A-F]{8}:[0-9A-F]{8}:[a-z]+:\d+:[^:]+:$/;

let pb: TestProxbox;

useProxboxSimulator((p) => { pb = p; }, {
  // The guest of the upstream update tests: config {cores: 2, memory: 1024, tags: "old"}.
  seed: (c) => c.addGuest({ vmid: 101, node: 'pve01', type: 'qemu', name: 'app-01', cores: 2, memory: 1024, tags: 'old' }),
});

const cluster = () => pb.sim.cluster;
const apply = (body: unknown, endpointId: number | null = 1) =>
  pb.request('POST', endpointId === null ? '/intent/apply' : `/intent/apply?endpoint_id=${endpointId}`, { body });
const one = (diff: Record<string, unknown>, endpointId: number | null = 1, extra: Record<string, unknown> = {}) =>
  apply({ run_uuid: 'apply:test:1', diffs: [diff], ...extra }, endpointId);
const qemuCreate = (payload: Record<string, unknown>, netbox_id: number | null = 812) =>
  ({ op: 'create', kind: 'qemu', netbox_id, payload: { vmid: 312, node: 'pve01', name: 'web-03', ...payload } });
const update = (kind: 'qemu' | 'lxc', payload: Record<string, unknown>) => ({ op: 'update', kind, netbox_id: 9, payload });
const writes = () => cluster().pveWrites();
const puts = () => cluster().pveCalls('PUT');

describe('apply request validation (scenarios 7–10)', () => {
  it('7: a qemu payload with only vmid, node and name is valid and sends no disk or NIC', async () => {
    const r = await one({ op: 'create', kind: 'qemu', payload: { vmid: 312, node: 'pve01', name: 'web-03' } });
    expect(r.status).toBe(200);
    expect(r.body.results[0].status).toBe('succeeded');
    expect(cluster().pveCalls('POST')[0]!.params).toEqual({ vmid: 312, name: 'web-03' });
  });

  it('8: update payloads with only vmid and node are valid for both kinds and change nothing', async () => {
    const r = await apply({ run_uuid: 'r', diffs: [update('qemu', { vmid: 105, node: 'pve01' }), update('lxc', { vmid: 190, node: 'pve02' })] });
    expect(r.status).toBe(200);
    expect(r.body.results.map((i: Json) => [i.status, i.message])).toEqual([
      ['skipped', 'No QEMU update needed; current Proxmox config already matches payload'],
      ['skipped', 'No LXC update needed; current Proxmox config already matches payload'],
    ]);
    expect(r.body.overall).toBe('succeeded');
    expect(writes()).toEqual([]);
  });

  it('9: apply without run_uuid or without diffs is 422', async () => {
    const noRun = await apply({ diffs: [] });
    expect(noRun.status).toBe(422);
    expect(noRun.body.detail).toEqual([{ type: 'missing', loc: ['body', 'run_uuid'], msg: 'Field required', input: { diffs: [] } }]);
    const noDiffs = await apply({ run_uuid: 'r' });
    expect(noDiffs.status).toBe(422);
    expect(noDiffs.body.detail).toEqual([{ type: 'missing', loc: ['body', 'diffs'], msg: 'Field required', input: { run_uuid: 'r' } }]);
    const intRun = await apply({ run_uuid: 5, diffs: [] });
    expect(intRun.body.detail).toEqual([{ type: 'string_type', loc: ['body', 'run_uuid'], msg: 'Input should be a valid string', input: 5 }]);
  });

  it('flattens payload error locations and names all payload models for a non-object payload', async () => {
    const r = await apply({
      run_uuid: 'r',
      diffs: [
        { op: 'create', kind: 'qemu', payload: { node: 'pve01', cloud_init: { dns_servers: ['1.1.1.1', '1.1.1.1'], password: 'p'.repeat(129) } } },
        { op: 'create', kind: 'virtualmachine', payload: {} },
        { op: 'update', kind: 'lxc', payload: 'x' },
      ],
    });
    expect(r.status).toBe(422);
    expect(r.body.detail.map((e: Json) => [e.type, e.loc])).toEqual([
      ['missing', ['body', 'diffs', 0, 'vmid']],
      ['string_too_long', ['body', 'diffs', 0, 'cloud_init', 'password']],
      ['value_error', ['body', 'diffs', 0, 'cloud_init', 'dns_servers']],
      ['literal_error', ['body', 'diffs', 1, 'kind']],
      ['model_attributes_type', ['body', 'diffs', 2, 'payload', 'VMIntentPayload']],
      ['model_attributes_type', ['body', 'diffs', 2, 'payload', 'LXCIntentPayload']],
      ['model_attributes_type', ['body', 'diffs', 2, 'payload', 'FirewallIntentPayload']],
    ]);
    expect(r.body.detail[2].msg).toBe('Value error, dns_servers must not contain duplicates');
    expect(r.body.detail[3].msg).toBe("Input should be 'qemu', 'lxc' or 'firewall'");
    expect(writes()).toEqual([]);
  });

  it('rejects a non-integer endpoint_id query and bad JSON like FastAPI', async () => {
    const q = await pb.request('POST', '/intent/apply?endpoint_id=abc', { body: { run_uuid: 'r', diffs: [] } });
    expect(q.body.detail).toEqual([{ type: 'int_parsing', loc: ['query', 'endpoint_id'], msg: 'Input should be a valid integer, unable to parse string as an integer', input: 'abc' }]);
    const bad = await pb.request('POST', '/intent/apply', { body: '{not json' });
    expect(bad.status).toBe(422);
    expect(bad.body.detail[0]).toMatchObject({ type: 'json_invalid', msg: 'JSON decode error' });
  });

  it('10: overall is one of succeeded, failed, partial, no_op', async () => {
    const ok = await apply({ run_uuid: 'a', diffs: [qemuCreate({})] });
    const failed = await apply({ run_uuid: 'b', diffs: [qemuCreate({})] });
    const partial = await apply({ run_uuid: 'c', diffs: [qemuCreate({ vmid: 313, name: 'web-04' }), { op: 'delete', kind: 'qemu', payload: { vmid: 105, node: 'pve01' } }] });
    const noOp = await apply({ run_uuid: 'd', diffs: [] });
    expect([ok, failed, partial, noOp].map((r) => r.body.overall)).toEqual(['succeeded', 'failed', 'partial', 'no_op']);
    for (const r of [ok, failed, partial, noOp]) expect(ApplyResponse.parse(r.body)).toEqual(r.body);
  });
});

describe('apply create (scenarios 11–16)', () => {
  it('11: empty diffs without endpoint_id return exactly the no_op body', async () => {
    const r = await apply({ run_uuid: 'apply:k3x9p2qa:1784901791902:812', diffs: [] }, null);
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ run_uuid: 'apply:k3x9p2qa:1784901791902:812', overall: 'no_op', results: [] });
  });

  it('12: a qemu create succeeds, echoes the UPID and sends memory=1024 to Proxmox', async () => {
    const r = await one(qemuCreate({ cores: 2, memory_mib: 1024, storage: 'local-lvm', tags: ['prod', 'web'], disks: [{ key: 'scsi0', value: 'local-lvm:32' }], nics: [{ key: 'net0', value: 'virtio,bridge=vmbr0' }] }));
    expect(r.status).toBe(200);
    const [item] = r.body.results;
    expect(item).toEqual({ netbox_id: 812, vmid: 312, op: 'create', kind: 'qemu', status: 'succeeded', reason: null, message: '', proxmox_upid: item.proxmox_upid });
    expect(item.proxmox_upid).toMatch(UPID);
    expect(parseUpid(item.proxmox_upid)).toMatchObject({ node: 'pve01', type: 'qmcreate', id: '312', user: 'proxbox@pve!api' });
    const posts = cluster().pveCalls('POST', 'nodes/pve01/qemu');
    expect(posts).toHaveLength(1);
    expect(posts[0]!.params).toEqual({ vmid: 312, name: 'web-03', cores: 2, memory: 1024, tags: 'prod;web', scsi0: 'local-lvm:32', net0: 'virtio,bridge=vmbr0' });
    expect(cluster().getGuest(312)).toMatchObject({ node: 'pve01', type: 'qemu', name: 'web-03', status: 'stopped', lock: null });
    expect(cluster().getGuest(312)!.config.scsi0).toBe('local-lvm:vm-312-disk-0,size=32G');
  });

  it('a created guest holds lock create while its task runs', async () => {
    const slow = await startTestProxbox({ taskDurationMs: 150 });
    try {
      slow.sim.cluster.seedDemoCluster();
      const r = await slow.request('POST', '/intent/apply?endpoint_id=1', { body: { run_uuid: 'r', diffs: [qemuCreate({})] } });
      const upid = r.body.results[0].proxmox_upid;
      expect(slow.sim.cluster.getGuest(312)).toMatchObject({ lock: 'create', status: 'stopped' });
      const resources = await slow.request('GET', '/proxmox/cluster/resources?type=vm&endpoint_ids=1');
      expect(resources.body[0]['lab-cluster'].find((g: Json) => g.vmid === 312)).toMatchObject({ lock: 'create' });
      const status = await slow.request('GET', `/proxmox/api2/latest/nodes/pve01/tasks/${encodeURIComponent(upid)}/status`);
      expect(status.body).toMatchObject({ upid, status: 'running', type: 'qmcreate', id: '312' });
      expect(status.body.exitstatus).toBeUndefined();
      await new Promise((res) => setTimeout(res, 200));
      expect(slow.sim.cluster.getGuest(312)!.lock).toBeNull();
      expect((await slow.request('GET', `/proxmox/api2/latest/nodes/pve01/tasks/${encodeURIComponent(upid)}/status`)).body)
        .toMatchObject({ status: 'stopped', exitstatus: 'OK' });
    } finally {
      await slow.close();
    }
  });

  it('a create task that fails leaves no guest behind', async () => {
    cluster().failNextTasks('unable to create VM 312 - lvcreate failed');
    const r = await one(qemuCreate({}));
    expect(r.body.results[0].status).toBe('succeeded');
    expect(cluster().getGuest(312)).toBeUndefined();
    expect(cluster().listTasks().at(-1)).toMatchObject({ status: 'stopped', exitstatus: 'unable to create VM 312 - lvcreate failed' });
  });

  it('13: a create on a write-disabled endpoint is 200 failed and Proxmox is untouched', async () => {
    cluster().updateEndpoint(1, { allow_writes: false });
    for (const endpointId of [1, 42, null]) {
      const r = await one(qemuCreate({}), endpointId);
      expect(r.status).toBe(200);
      expect(r.body.overall).toBe('failed');
      expect(r.body.results[0]).toMatchObject({ status: 'failed', reason: null, message: 'writes_disabled_for_endpoint', proxmox_upid: null });
    }
    expect(cluster().pveLog).toEqual([]);
    expect(cluster().journal.entries).toEqual([]);
  });

  it('14: an LXC create without ostemplate fails with the exact message; hostname is checked first', async () => {
    const lxc = (payload: Record<string, unknown>) => one({ op: 'create', kind: 'lxc', payload: { vmid: 320, node: 'pve02', ...payload } });
    const noTemplate = await lxc({ hostname: 'ct-20' });
    expect(noTemplate.status).toBe(200);
    expect(noTemplate.body.results[0]).toMatchObject({ status: 'failed', reason: null, message: 'ostemplate required for LXC create' });
    expect((await lxc({})).body.results[0].message).toBe('hostname required for LXC create');
    expect((await one(qemuCreate({ name: null }))).body.results[0].message).toBe('name required for QEMU create');
    expect(cluster().pveLog).toEqual([]);
  });

  it('creates an LXC with its template, storage and rootfs', async () => {
    const r = await one({
      op: 'create', kind: 'lxc', netbox_id: 44,
      payload: { vmid: 320, node: 'pve02', hostname: 'ct-20', ostemplate: TEMPLATE, storage: 'local-lvm', cores: 1, memory_mib: 512, password: 'root-pw', disks: [{ key: 'rootfs', value: 'local-lvm:8' }], nics: [{ name: 'eth0', bridge: 'vmbr0', ip: 'dhcp' }] },
    });
    expect(r.body.results[0]).toMatchObject({ status: 'succeeded', kind: 'lxc' });
    expect(cluster().pveCalls('POST')[0]).toMatchObject({
      path: 'nodes/pve02/lxc',
      params: { vmid: 320, hostname: 'ct-20', ostemplate: TEMPLATE, cores: 1, memory: 512, storage: 'local-lvm', password: 'root-pw', rootfs: 'local-lvm:8', eth0: 'bridge=vmbr0,ip=dhcp' },
    });
    expect(cluster().getGuest(320)).toMatchObject({ type: 'lxc', name: 'ct-20', config: { rootfs: 'local-lvm:vm-320-disk-0,size=8G' } });
    expect(JSON.stringify(cluster().journal.entries)).not.toContain('root-pw');
  });

  it('15: a delete diff without endpoint_id is not_implemented and reaches nothing', async () => {
    const r = await one({ op: 'delete', kind: 'qemu', netbox_id: 790, payload: { vmid: 105, node: 'pve01' } }, null);
    expect(r.status).toBe(200);
    expect(r.body.results[0]).toEqual({
      netbox_id: 790, vmid: 105, op: 'delete', kind: 'qemu', status: 'not_implemented', reason: null,
      message: 'DELETE goes through DeletionRequest (Sub-PRs H/I, #385/#386)', proxmox_upid: null,
    });
    expect(r.body.results[0].message).toContain('DeletionRequest');
    expect(cluster().pveLog).toEqual([]);
    expect(cluster().journal.entries).toEqual([]);
  });

  it('16: a successful qemu create writes one journal entry on the NetBox VM', async () => {
    const r = await apply({ run_uuid: 'apply:k3x9p2qa:1784901791902:812', actor: 'alice', diffs: [qemuCreate({})] });
    const entries = cluster().journal.entries;
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({ assigned_object_type: 'virtualization.virtualmachine', assigned_object_id: 812, kind: 'success' });
    for (const line of ['verb: intent_create_qemu', 'result: succeeded', 'target_vmid: 312', 'run_uuid: apply:k3x9p2qa:1784901791902:812', 'actor: alice', `proxmox_task_upid: ${r.body.results[0].proxmox_upid}`]) {
      expect(entries[0]!.comments).toContain(line);
    }
    expect((await pb.request('GET', '/_sim/journal', { key: null })).body).toEqual(entries);
  });

  it('journals against the vmid when netbox_id is null, with actor proxbox-api by default', async () => {
    await one(qemuCreate({}, null), 1, { actor: null });
    expect(cluster().journal.entries[0]).toMatchObject({ assigned_object_id: 312 });
    expect(cluster().journal.entries[0]!.comments).toContain('actor: proxbox-api');
  });

  it('template_vmid gives not_implemented without a Proxmox call or journal', async () => {
    const r = await one(qemuCreate({ template_vmid: 9000 }));
    expect(r.body.results[0]).toMatchObject({ status: 'not_implemented', message: 'template clone lands in Sub-PR K' });
    expect(r.body.overall).toBe('partial');
    expect(cluster().pveLog).toEqual([]);
    expect(cluster().journal.entries).toEqual([]);
  });

  it('a resent create for an existing vmid fails with Proxmox "already exists" text', async () => {
    const r = await one(qemuCreate({ vmid: 105, name: 'db-01' }));
    expect(r.body.results[0]).toMatchObject({ status: 'failed', reason: null, proxmox_upid: null });
    expect(r.body.results[0].message).toContain('VM 105 already exists');
    expect(cluster().getGuest(105)).toMatchObject({ name: 'db-01', config: { cores: 2, memory: 4096 } });
  });

  it('processes diffs sequentially; one failure does not stop the others', async () => {
    const r = await apply({ run_uuid: 'r', diffs: [qemuCreate({ vmid: 105 }), qemuCreate({ vmid: 313, name: 'web-04' })] });
    expect(r.body.results.map((i: Json) => i.status)).toEqual(['failed', 'succeeded']);
    expect(r.body.overall).toBe('partial');
  });

  it('ignores an endpoint_id in the body', async () => {
    const r = await apply({ run_uuid: 'r', endpoint_id: 1, diffs: [qemuCreate({})] }, null);
    expect(r.body.results[0].message).toBe('writes_disabled_for_endpoint');
  });
});

describe('apply update (scenarios 17–25)', () => {
  it('17: cores 2→4 on a stopped VM is exactly one PUT {cores: 4}', async () => {
    const r = await one(update('qemu', { vmid: 101, node: 'pve01', cores: 4 }));
    expect(r.body.results[0]).toEqual({ netbox_id: 9, vmid: 101, op: 'update', kind: 'qemu', status: 'succeeded', reason: null, message: 'Updated QEMU VM 101: cores', proxmox_upid: null });
    expect(writes()).toEqual([expect.objectContaining({ method: 'PUT', path: 'nodes/pve01/qemu/101/config', params: { cores: 4 } })]);
    expect(cluster().getGuest(101)!.config.cores).toBe(4);
  });

  it('18: memory_mib 2048 is a PUT {memory: 2048}', async () => {
    await one(update('qemu', { vmid: 101, node: 'pve01', memory_mib: 2048 }));
    expect(puts().map((p) => p.params)).toEqual([{ memory: 2048 }]);
  });

  it('19: tags on a running VM are hot-applied as PUT {tags: "new;tag"}', async () => {
    cluster().setGuestStatus(101, 'running');
    const r = await one(update('qemu', { vmid: 101, node: 'pve01', tags: ['new', 'tag'] }));
    expect(r.body.results[0]).toMatchObject({ status: 'succeeded', message: 'Updated QEMU VM 101: tags' });
    expect(puts().map((p) => p.params)).toEqual([{ tags: 'new;tag' }]);
  });

  it('compares only present fields, ignores explicit nulls and reports sorted keys', async () => {
    const nic = 'virtio=BC:24:11:00:01:01,bridge=vmbr1';
    const r = await one(update('qemu', { vmid: 101, node: 'pve01', name: null, cores: 2, memory_mib: 4096, tags: [], nics: [{ key: 'net0', value: nic }] }));
    expect(r.body.results[0].message).toBe('Updated QEMU VM 101: memory, net0, tags');
    expect(puts()[0]!.params).toEqual({ memory: 4096, tags: '', net0: nic });
    const again = await one(update('qemu', { vmid: 101, node: 'pve01', memory_mib: 4096, tags: [], nics: [{ key: 'net0', value: nic }] }));
    expect(again.body.results[0].status).toBe('skipped');
    expect(puts()).toHaveLength(1);
  });

  it('a NIC written without a MAC gets a new one each time, as Proxmox does, so such an update is never skipped', async () => {
    const body = update('qemu', { vmid: 101, node: 'pve01', nics: [{ key: 'net1', value: 'virtio,bridge=vmbr0' }] });
    await one(body);
    const first = String(cluster().getGuest(101)!.config.net1);
    expect(first).toMatch(/^virtio=BC:24:11:[0-9A-F]{2}:[0-9A-F]{2}:[0-9A-F]{2},bridge=vmbr0$/);
    expect((await one(body)).body.results[0].status).toBe('succeeded');
    expect(String(cluster().getGuest(101)!.config.net1)).not.toBe(first);
    await one(update('lxc', { vmid: 190, node: 'pve02', nics: [{ key: 'net1', value: 'name=eth1,bridge=vmbr0' }] }));
    expect(String(cluster().getGuest(190)!.config.net1)).toMatch(/^name=eth1,bridge=vmbr0,hwaddr=BC:24:11:[0-9A-F:]{8},type=veth$/);
  });

  it('re-sends disk specs in updates because Proxmox stores them normalised', async () => {
    const body = update('qemu', { vmid: 105, node: 'pve01', disks: [{ key: 'scsi1', value: 'local-lvm:16' }] });
    await one(body);
    await one(body);
    expect(puts()).toHaveLength(2);
    expect(cluster().getGuest(105)!.config).toMatchObject({ scsi1: 'local-lvm:vm-105-disk-2,size=16G', unused0: 'local-lvm:vm-105-disk-1' });
  });

  it('20: an update of an absent vmid is a TOCTOU failure without a PUT', async () => {
    const r = await one(update('qemu', { vmid: 999, node: 'pve01', cores: 4 }));
    expect(r.body.results[0]).toMatchObject({ status: 'failed', reason: 'toctou_mismatch', message: "TOCTOU mismatch: vmid 999 was on node 'pve01' at plan, now on 'unknown'" });
    expect(writes()).toEqual([]);
  });

  it('21: a VM that moved to pve02 gives the exact TOCTOU message', async () => {
    cluster().moveGuest(101, 'pve02');
    const r = await one(update('qemu', { vmid: 101, node: 'pve01', cores: 4 }));
    expect(r.body.results[0].message).toBe("TOCTOU mismatch: vmid 101 was on node 'pve01' at plan, now on 'pve02'");
    expect(r.body.results[0].reason).toBe('toctou_mismatch');
    expect(cluster().pveCalls('GET').map((c) => c.path)).toEqual(['nodes/pve01/qemu', 'cluster/resources']);
    expect(writes()).toEqual([]);
  });

  it('22: an update on a write-disabled endpoint is HTTP 403 and earlier results are discarded', async () => {
    cluster().updateEndpoint(1, { allow_writes: false });
    const r = await apply({ run_uuid: 'r', diffs: [{ op: 'delete', kind: 'qemu', payload: { vmid: 105, node: 'pve01' } }, update('qemu', { vmid: 101, node: 'pve01', cores: 4 })] });
    expect(r.status).toBe(403);
    expect(r.body).toEqual({ reason: 'writes_disabled_for_endpoint', detail: 'writes_disabled_for_endpoint' });
    expect(cluster().pveLog).toEqual([]);
    for (const endpointId of [null, 77]) expect((await one(update('qemu', { vmid: 101, node: 'pve01', cores: 4 }), endpointId)).status).toBe(403);
  });

  it('23: a qemu update re-reads the node guest list before any config write', async () => {
    await one(update('qemu', { vmid: 101, node: 'pve01', cores: 4 }));
    expect(cluster().pveLog.map((c) => `${c.method} ${c.path}`)).toEqual([
      'GET nodes/pve01/qemu', 'GET nodes/pve01/qemu/101/config', 'GET nodes/pve01/qemu/101/status/current', 'PUT nodes/pve01/qemu/101/config',
    ]);
  });

  it('24: an LXC update re-reads the node guest list before any config write', async () => {
    const r = await one(update('lxc', { vmid: 190, node: 'pve02', hostname: 'old-app-03', memory_mib: 1024 }));
    expect(r.body.results[0]).toMatchObject({ status: 'succeeded', message: 'Updated LXC 190: hostname, memory' });
    expect(cluster().pveLog.map((c) => `${c.method} ${c.path}`)).toEqual([
      'GET nodes/pve02/lxc', 'GET nodes/pve02/lxc/190/config', 'GET nodes/pve02/lxc/190/status/current', 'PUT nodes/pve02/lxc/190/config',
    ]);
  });

  it('25: offline keys on a running guest fail with update_requires_vm_stop and the guest keeps running', async () => {
    cluster().setGuestStatus(101, 'running');
    cluster().setGuestStatus(190, 'running');
    const r = await apply({
      run_uuid: 'r',
      diffs: [
        update('qemu', { vmid: 101, node: 'pve01', cores: 4, tags: ['x'] }),
        update('qemu', { vmid: 101, node: 'pve01', disks: [{ key: 'virtio1', value: 'local-lvm:8' }] }),
        update('lxc', { vmid: 190, node: 'pve02', disks: [{ key: 'mp0', value: 'local-lvm:8,mp=/data' }] }),
        update('lxc', { vmid: 190, node: 'pve02', nics: [{ key: 'net0', value: 'name=eth0,bridge=vmbr1' }] }),
      ],
    });
    expect(r.body.results.map((i: Json) => [i.status, i.reason, i.message])).toEqual([
      ['failed', 'update_requires_vm_stop', 'Update requires VM stop; refusing to auto-stop running VM 101'],
      ['failed', 'update_requires_vm_stop', 'Update requires VM stop; refusing to auto-stop running VM 101'],
      ['failed', 'update_requires_vm_stop', 'Update requires VM stop; refusing to auto-stop running VM 190'],
      ['succeeded', null, 'Updated LXC 190: net0'],
    ]);
    expect(writes().map((w) => `${w.method} ${w.path}`)).toEqual(['PUT nodes/pve02/lxc/190/config']);
    expect(cluster().getGuest(101)!.status).toBe('running');
    expect(cluster().getGuest(190)!.status).toBe('running');
  });

  it('an update on a locked guest fails with the Proxmox lock error', async () => {
    cluster().setGuestLock(101, 'backup');
    const r = await one(update('qemu', { vmid: 101, node: 'pve01', cores: 4 }));
    expect(r.body.results[0]).toMatchObject({ status: 'failed', reason: null });
    expect(r.body.results[0].message).toContain('VM is locked (backup)');
  });

  it('writes one journal entry per successful update', async () => {
    await one(update('qemu', { vmid: 101, node: 'pve01', cores: 4 }), 1, { run_uuid: 'run-u' });
    expect(cluster().journal.entries).toHaveLength(1);
    expect(cluster().journal.entries[0]!.comments).toContain('verb: intent_update_qemu');
    expect(cluster().journal.entries[0]!.assigned_object_id).toBe(9);
  });
});

describe('cloud-init (scenarios 26–30)', () => {
  const fullCi = {
    user: 'ubuntu',
    ssh_keys: ['ssh-ed25519 AAAAC3Nz alice@laptop', 'ssh-rsa AAAAB3Nz bob@desk'],
    network: { ip: '192.0.2.50', cidr: 24, gw: '192.0.2.1' },
    search_domain: 'lab.example.com.',
    dns_servers: ['192.0.2.53', '2001:db8::53'],
    user_data: { packages: ['qemu-guest-agent'] },
  };

  it('26: the full object produces every ci parameter', async () => {
    await one(qemuCreate({ cloud_init: fullCi }));
    const params = cluster().pveCalls('POST')[0]!.params;
    expect(params).toMatchObject({
      ciuser: 'ubuntu',
      sshkeys: 'ssh-ed25519%20AAAAC3Nz%20alice%40laptop%0Assh-rsa%20AAAAB3Nz%20bob%40desk',
      ipconfig0: 'ip=192.0.2.50/24,gw=192.0.2.1',
      searchdomain: 'lab.example.com',
      nameserver: '192.0.2.53 2001:db8::53',
      cicustom: 'user=packages:\n- qemu-guest-agent\n',
    });
    expect(String(params.cicustom).startsWith('user=')).toBe(true);
    expect(params).not.toHaveProperty('cipassword');
  });

  it('27: a snippet reference passes through unchanged', async () => {
    await one(qemuCreate({ cloud_init: { user_data: 'user=local:snippets/vm-101.yaml' } }));
    expect(cluster().pveCalls('POST')[0]!.params.cicustom).toBe('user=local:snippets/vm-101.yaml');
  });

  it('28: a password is sent as cipassword; 29: without one there is no cipassword key', async () => {
    await one(qemuCreate({ cloud_init: { user: 'ubuntu', password: 'Sup3r-Secret' } }));
    expect(cluster().pveCalls('POST')[0]!.params).toMatchObject({ ciuser: 'ubuntu', cipassword: 'Sup3r-Secret' });
    await one(qemuCreate({ vmid: 313, name: 'web-04', cloud_init: { user: 'ubuntu' } }));
    expect(cluster().pveCalls('POST')[1]!.params).not.toHaveProperty('cipassword');
    expect(JSON.stringify(cluster().journal.entries)).not.toContain('Sup3r-Secret');
  });

  it('30: the same cloud-init update twice is succeeded then skipped, with one PUT', async () => {
    const body = update('qemu', { vmid: 101, node: 'pve01', cloud_init: { user: 'ubuntu', network: { ip: '192.0.2.60', cidr: 24, gw: '192.0.2.1' } } });
    const first = await one(body);
    expect(first.body.results[0]).toMatchObject({ status: 'succeeded', message: 'Updated QEMU VM 101: ciuser, ipconfig0' });
    const second = await one(body);
    expect(second.body.results[0]).toMatchObject({ status: 'skipped', message: 'No QEMU update needed; current Proxmox config already matches payload' });
    expect(puts()).toHaveLength(1);
    expect(puts()[0]!.params).toEqual({ ciuser: 'ubuntu', ipconfig0: 'ip=192.0.2.60/24,gw=192.0.2.1' });
  });

  it('a cloud-init password is never skipped because Proxmox reads it back masked', async () => {
    const body = update('qemu', { vmid: 101, node: 'pve01', cloud_init: { password: 'pw' } });
    await one(body);
    expect((await one(body)).body.results[0].status).toBe('succeeded');
    expect(puts()).toHaveLength(2);
  });

  it('cloud-init on LXC is rejected by Proxmox', async () => {
    const r = await one({ op: 'create', kind: 'lxc', payload: { vmid: 321, node: 'pve02', hostname: 'ct-21', ostemplate: TEMPLATE, cloud_init: { user: 'root' } } });
    expect(r.body.results[0].status).toBe('failed');
    expect(r.body.results[0].message).toContain('Parameter verification failed.');
    expect(r.body.results[0].message).toContain("'ciuser': 'property is not defined in schema");
    expect(cluster().getGuest(321)).toBeUndefined();
  });
});

describe('secret scrubbing (scenarios 36–38)', () => {
  it('36: nested secret values of a failing payload never reach the item message or the journal', async () => {
    cluster().injectPveError({
      method: 'POST', path: '^nodes/pve02/lxc$',
      message: "unable to create CT 330 - got {'password': 'root pw 1', 'cipassword': 'ci-pw-2', 'nested': {'secret': 'sec-3', 'token': 'tok-4'}} and echoed tok-4 / ci-pw-2",
    });
    const r = await one({
      op: 'create', kind: 'lxc',
      payload: {
        vmid: 330, node: 'pve02', hostname: 'ct-30', ostemplate: TEMPLATE, password: 'root pw 1',
        cloud_init: { password: 'ci-pw-2' }, disks: [{ key: 'rootfs', value: 'local-lvm:8', secret: 'sec-3', token: 'tok-4' }],
      },
    });
    const message: string = r.body.results[0].message;
    expect(r.body.results[0].status).toBe('failed');
    const journal = JSON.stringify(cluster().journal.entries);
    expect(cluster().journal.entries).toHaveLength(1);
    for (const secret of ['root pw 1', 'ci-pw-2', 'sec-3', 'tok-4']) {
      expect(message).not.toContain(secret);
      expect(journal).not.toContain(secret);
    }
    expect(message).toBe("500 Internal Server Error: unable to create CT 330 - got {'password': '***', 'cipassword': '***', 'nested': {'secret': '***', 'token': '***'}} and echoed *** / ***");
    expect(cluster().journal.entries[0]!.comments).toContain('result: failed');
  });

  it('37: error text with cipassword in any of its three forms is redacted', async () => {
    cluster().injectPveError({ method: 'PUT', path: 'config$', message: `cipassword: x1 / {'cipassword': 'x2'} / "cipassword"="x3"` });
    const r = await one(update('qemu', { vmid: 101, node: 'pve01', cores: 4 }));
    expect(r.body.results[0].message).toBe(`500 Internal Server Error: cipassword: *** / {'cipassword': '***'} / "cipassword"="***"`);
  });

  it('38: journal comments are scrubbed before they are written', async () => {
    cluster().injectPveError({ method: 'PUT', path: 'config$', message: 'token=abc123 rejected' });
    await one(update('qemu', { vmid: 101, node: 'pve01', cores: 4 }));
    const comments = cluster().journal.entries[0]!.comments;
    expect(comments).toContain('error_detail: 500 Internal Server Error: token=*** rejected');
    expect(comments).not.toContain('abc123');
  });
});

describe('journal failures (proxbox-api.md §5.9, scenario 43)', () => {
  it('43: a journal write failing after the create POST gives 502 E4 while the guest exists', async () => {
    cluster().failJournalWrites(1);
    const r = await one(qemuCreate({}));
    expect(r.status).toBe(502);
    expect(r.body).toEqual({
      message: 'Failed to write verb audit journal entry',
      detail: { endpoint: '/api/extras/journal-entries/', method: 'POST' },
      python_exception: null,
    });
    expect(cluster().getGuest(312)).toMatchObject({ name: 'web-03', node: 'pve01' });
    expect(cluster().pveCalls('POST')).toHaveLength(1);
    expect(cluster().journal.entries).toEqual([]);
  });

  it('a journal failure after an update PUT is a 502 with the config already changed', async () => {
    const failures = await pb.request('POST', '/_sim/journal/failures', { key: null, body: { count: 1 } });
    expect(failures.status).toBe(204);
    const r = await one(update('qemu', { vmid: 101, node: 'pve01', cores: 6 }));
    expect(r.status).toBe(502);
    expect(cluster().getGuest(101)!.config.cores).toBe(6);
  });
});
