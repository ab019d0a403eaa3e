import { describe, expect, it } from 'vitest';
import { ClusterResourcesResponse, GuestConfig, ProxmoxEndpointInfo, TaskStatus } from '../../contracts/proxbox-api';
import type { Json, TestProxbox } from '../../simulators/proxbox-api/test-client';
import { useProxboxSimulator } from '../support/proxbox-simulator';

let pb: TestProxbox;

useProxboxSimulator((p) => { pb = p; });

const cluster = () => pb.sim.cluster;
const get = (path: string) => pb.request('GET', path);
const sim = (method: string, path: string, body?: unknown) => pb.request(method, `/_sim${path}`, { key: null, body });

describe('endpoints (proxbox-api.md §3)', () => {
  it('returns one endpoint without secrets, and 404 for an unknown id', async () => {
    const r = await get('/proxmox/endpoints/1');
    expect(r.status).toBe(200);
    expect(ProxmoxEndpointInfo.strict().parse(r.body)).toEqual(r.body);
    expect(r.body).toMatchObject({ id: 1, name: 'lab', enabled: true, allow_writes: true, port: 8006 });
    expect(Object.keys(r.body).sort()).toEqual([
      'access_methods', 'allow_writes', 'domain', 'enabled', 'id', 'ip_address', 'max_retries', 'name', 'port', 'retry_backoff',
      'site_id', 'site_name', 'site_slug', 'tenant_id', 'tenant_name', 'tenant_slug', 'timeout', 'username', 'verify_ssl',
    ]);
    expect(await get('/proxmox/endpoints/7')).toMatchObject({ status: 404, body: { detail: 'Proxmox endpoint not found' } });
  });

  it('lists endpoints with offset and a limit of at most 100', async () => {
    cluster().addEndpoint({ name: 'dr' });
    expect((await get('/proxmox/endpoints?offset=0&limit=100')).body.map((e: Json) => e.id)).toEqual([1, 2]);
    expect((await get('/proxmox/endpoints?offset=1')).body.map((e: Json) => e.id)).toEqual([2]);
    const tooMany = await get('/proxmox/endpoints?limit=101');
    expect(tooMany.status).toBe(422);
    expect(tooMany.body.detail).toEqual([{ type: 'less_than_equal', loc: ['query', 'limit'], msg: 'Input should be less than or equal to 100', input: '101', ctx: { le: 100 } }]);
  });
});

describe('cluster resources (proxbox-api.md §8.1, scenario 44)', () => {
  it('returns exactly one map entry for an enabled endpoint, with qemu and lxc guests', async () => {
    const r = await get('/proxmox/cluster/resources?type=vm&endpoint_ids=1');
    expect(r.status).toBe(200);
    const parsed = ClusterResourcesResponse.parse(r.body);
    expect(parsed).toHaveLength(1);
    const items = parsed[0]!['lab-cluster']!;
    expect(items.map((i) => [i.id, i.type, i.vmid, i.node, i.name, i.status])).toEqual([
      ['qemu/105', 'qemu', 105, 'pve01', 'db-01', 'stopped'],
      ['qemu/110', 'qemu', 110, 'pve02', 'web-01', 'running'],
      ['lxc/190', 'lxc', 190, 'pve02', 'old-app-02', 'stopped'],
    ]);
    expect(items[0]).toMatchObject({ lock: null, template: false, tags: 'prod', maxcpu: 2, maxmem: 4294967296 });
    expect(cluster().pveCalls('GET', 'cluster/resources')[0]!.params).toEqual({ type: 'vm' });
  });

  it('44: a disabled or unknown endpoint yields []', async () => {
    expect((await get('/proxmox/cluster/resources?type=vm&endpoint_ids=42')).body).toEqual([]);
    cluster().updateEndpoint(1, { enabled: false });
    const r = await get('/proxmox/cluster/resources?type=vm&endpoint_ids=1');
    expect(r).toMatchObject({ status: 200, body: [] });
    expect(cluster().pveLog).toEqual([]);
  });

  it('filters nodes and storage, and honours the proxmox_endpoint_ids alias first', async () => {
    cluster().setNodeStatus('pve02', 'offline');
    const nodes = await get('/proxmox/cluster/resources?type=node&endpoint_ids=9&proxmox_endpoint_ids=1');
    expect(nodes.body[0]['lab-cluster'].map((n: Json) => [n.node, n.status])).toEqual([['pve01', 'online'], ['pve02', 'offline']]);
    const storage = await get('/proxmox/cluster/resources?type=storage&endpoint_ids=1');
    expect(storage.body[0]['lab-cluster'].filter((s: Json) => s.node === 'pve01').map((s: Json) => [s.storage, s.content, s.plugintype]))
      .toEqual([['local-lvm', 'images,rootdir', 'lvmthin'], ['local', 'iso,vztmpl', 'dir']]);
    expect((await get('/proxmox/cluster/resources?type=bogus&endpoint_ids=1')).status).toBe(422);
  });

  it('keys a standalone host by its node name and selects by endpoint name', async () => {
    cluster().addEndpoint({ id: 2, name: 'edge', cluster: null });
    cluster().addNode({ endpointId: 2, name: 'edge01' });
    const r = await get('/proxmox/cluster/resources?type=vm&name=edge');
    expect(r.body).toEqual([{ edge01: [] }]);
    expect((await get('/proxmox/cluster/resources?type=vm')).body.map((m: Json) => Object.keys(m)[0])).toEqual(['lab-cluster', 'edge01']);
  });

  it('answers 400 Could not return Proxmox Sessions when Proxmox is unreachable', async () => {
    cluster().updateEndpoint(1, { reachable: false });
    const r = await get('/proxmox/cluster/resources?type=vm&endpoint_ids=1');
    expect(r.status).toBe(400);
    expect(r.body).toMatchObject({ message: 'Could not return Proxmox Sessions', python_exception: null });
  });
});

describe('guest config (proxbox-api.md §8.2, scenario 45)', () => {
  it('returns the raw config with computed networks and disks', async () => {
    const r = await get('/proxmox/pve01/qemu/105/config?endpoint_ids=1');
    expect(r.status).toBe(200);
    expect(GuestConfig.parse(r.body)).toMatchObject({ name: 'db-01', cores: 2, memory: 4096, tags: 'prod' });
    expect(r.body.digest).toMatch(/^[0-9a-f]{40}$/);
    expect(r.body.networks).toEqual([{ net0: { virtio: 'BC:24:11:00:01:05', bridge: 'vmbr0' } }]);
    expect(r.body.disks).toEqual([{ scsi0: { storage: 'local-lvm', volume: 'vm-105-disk-0', size: '32G' } }]);
  });

  it('45: a missing guest is 400 E4 VM Config not found.', async () => {
    const r = await get('/proxmox/pve01/qemu/999/config?endpoint_ids=1');
    expect(r.status).toBe(400);
    expect(r.body.message).toBe('VM Config not found.');
    expect(r.body.detail).toMatch(/^VM Config not found\. Check if the 'node', 'type', and 'vmid' are correct\. Session errors: /);
    expect(r.body.python_exception).toBeNull();
    expect((await get('/proxmox/pve02/qemu/105/config?endpoint_ids=1')).body.message).toBe('VM Config not found.');
  });

  it('rejects an unknown type with E4 and a non-integer vmid with E1', async () => {
    expect(await get('/proxmox/pve01/vm/105/config')).toMatchObject({ status: 400, body: { message: "Invalid VM Type. Use 'qemu' or 'lxc'." } });
    expect((await get('/proxmox/pve01/qemu/abc/config')).body.detail[0]).toMatchObject({ type: 'int_parsing', loc: ['path', 'vmid'] });
  });

  it('fails response validation (500 E5) for LXC configs with unmodelled keys such as mp0', async () => {
    expect((await get('/proxmox/pve02/lxc/190/config?endpoint_ids=1')).status).toBe(200);
    cluster().updateGuestConfig(190, { mp0: 'local-lvm:vm-190-disk-1,mp=/data,size=8G' });
    expect(await get('/proxmox/pve02/lxc/190/config?endpoint_ids=1')).toMatchObject({
      status: 500, body: { message: 'Internal server error', detail: 'An unexpected error occurred.', python_exception: null },
    });
    expect((await get('/proxmox/api2/latest/nodes/pve02/lxc/190/config')).body.mp0).toBe('local-lvm:vm-190-disk-1,mp=/data,size=8G');
  });
});

describe('generated Proxmox proxy (proxbox-api.md §8.3)', () => {
  it('serves status/current, config, the flat resource list and nextid', async () => {
    const status = await get('/proxmox/api2/latest/nodes/pve02/qemu/110/status/current');
    expect(status.body).toMatchObject({ vmid: 110, status: 'running', name: 'web-01', qmpstatus: 'running', tags: 'prod;web' });
    const config = await get('/proxmox/api2/latest/nodes/pve02/lxc/190/config');
    expect(config.body).toMatchObject({ hostname: 'old-app-02', rootfs: 'local-lvm:vm-190-disk-0,size=8G' });
    const flat = await get('/proxmox/api2/latest/cluster/resources?type=vm');
    expect(flat.body.map((r: Json) => r.id)).toEqual(['qemu/105', 'qemu/110', 'lxc/190']);
    expect(flat.body[0]).not.toHaveProperty('lock');
    expect((await get('/proxmox/api2/latest/cluster/nextid')).body).toBe(100);
    expect((await get('/proxmox/api2/latest/cluster/nextid?vmid=312')).body).toBe(312);
    expect((await get('/proxmox/api2/latest/cluster/nextid?vmid=105')).status).toBe(400);
    expect((await get('/proxmox/api2/cluster/nextid')).body).toBe(100);
  });

  it('reports task status for a URL-encoded UPID in the proxbox-api.md §8.3 shape', async () => {
    const created = await pb.request('POST', '/intent/apply?endpoint_id=1', { body: { run_uuid: 'r', diffs: [{ op: 'create', kind: 'qemu', payload: { vmid: 312, node: 'pve01', name: 'web-03' } }] } });
    const upid: string = created.body.results[0].proxmox_upid;
    const r = await get(`/proxmox/api2/latest/nodes/pve01/tasks/${encodeURIComponent(upid)}/status?target_name=lab`);
    expect(r.status).toBe(200);
    expect(TaskStatus.parse(r.body)).toMatchObject({ upid, node: 'pve01', status: 'stopped', exitstatus: 'OK', type: 'qmcreate', id: '312', user: 'proxbox@pve!api' });
    expect(cluster().pveCalls('GET').at(-1)!.path).toBe(`nodes/pve01/tasks/${upid}/status`);
  });

  it('maps Proxmox failures to the generated-route E4', async () => {
    const r = await get('/proxmox/api2/latest/nodes/pve01/qemu/999/status/current');
    expect(r).toMatchObject({
      status: 400,
      body: { message: 'Generated Proxmox proxy request failed for GET /nodes/{node}/qemu/{vmid}/status/current.', python_exception: null },
    });
    expect(r.body.detail).toMatch(/^Operation ID: /);
  });

  it('requires a target when several endpoints are configured', async () => {
    cluster().addEndpoint({ id: 2, name: 'dr', cluster: 'dr-cluster' });
    cluster().addNode({ endpointId: 2, name: 'dr01' });
    expect(await get('/proxmox/api2/latest/cluster/resources')).toMatchObject({
      status: 400, body: { message: 'Multiple Proxmox endpoints configured; provide name, domain, or ip_address.' },
    });
    const dr = await get('/proxmox/api2/latest/cluster/resources?type=node&target_name=dr');
    expect(dr.body.map((n: Json) => n.node)).toEqual(['dr01']);
    expect((await get('/proxmox/api2/latest/cluster/resources?type=node&target_domain=pve.lab.example')).body.map((n: Json) => n.node)).toEqual(['pve01', 'pve02']);
  });
});

describe('secondary reads (proxbox-api.md §8.4)', () => {
  it('lists QEMU guests of a node under the cluster key', async () => {
    const r = await get('/proxmox/nodes/pve01/qemu?endpoint_ids=1');
    expect(r.body).toEqual([{ 'lab-cluster': [expect.objectContaining({ vmid: 105, name: 'db-01', status: 'stopped' })] }]);
  });

  it('lists storage content for templates, and 404 for an unknown node or storage', async () => {
    const r = await get('/proxmox/nodes/pve02/storage/local/content?content=vztmpl&endpoint_ids=1');
    expect(r.body).toEqual([expect.objectContaining({ volid: 'local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst', format: 'tzst', content: 'vztmpl' })]);
    expect(await get('/proxmox/nodes/pve09/storage/local/content?endpoint_ids=1')).toMatchObject({ status: 404, body: { detail: 'Node or Storage not found' } });
    expect((await get('/proxmox/nodes/pve01/storage/nfs/content?endpoint_ids=1')).status).toBe(404);
  });
});

describe('/_sim seeding and inspection routes', () => {
  it('seeds a whole cluster over HTTP and exposes state, the pve log and the journal', async () => {
    expect((await sim('POST', '/reset')).status).toBe(204);
    expect((await sim('GET', '/state')).body.endpoints).toEqual([]);
    expect((await sim('POST', '/endpoints', { id: 4, name: 'remote', cluster: 'remote-cluster', allow_writes: true })).status).toBe(201);
    expect((await sim('POST', '/nodes', { endpointId: 4, name: 'r01' })).status).toBe(201);
    expect((await sim('POST', '/storages', { endpointId: 4, node: 'r01', storage: 'local', content: ['vztmpl'], volumes: ['local:vztmpl/alpine.tar.xz'] })).status).toBe(201);
    expect((await sim('POST', '/guests', { endpointId: 4, vmid: 500, node: 'r01', type: 'qemu', name: 'g-500', cores: 2, memory: 1024 })).status).toBe(201);
    expect((await sim('POST', '/guests', { vmid: 500, node: 'r01', type: 'qemu' })).status).toBe(400);
    expect((await sim('POST', '/deletion-requests', { endpoint_id: 4, vmid: 500, node: 'r01', kind: 'qemu', state: 'approved' })).body).toMatchObject({ id: 1, state: 'approved' });
    expect((await sim('PATCH', '/guests/500', { status: 'running', lock: 'backup' })).body).toMatchObject({ status: 'running', lock: 'backup' });
    expect((await sim('PATCH', '/guests/500', { lock: null, status: 'stopped' })).status).toBe(201);

    const executed = await pb.request('POST', '/intent/deletion-requests/1/execute', { body: { vmid: 500, node: 'r01', kind: 'qemu' } });
    expect(executed.status).toBe(200);
    expect((await sim('GET', '/pve-log')).body.map((e: Json) => `${e.method} ${e.path}`)).toEqual(['DELETE nodes/r01/qemu/500']);
    expect((await sim('GET', '/journal')).body).toHaveLength(1);
    expect((await sim('GET', '/deletion-requests/1')).body.state).toBe('succeeded');
    expect((await sim('GET', '/guests/500')).status).toBe(404);
    const state = (await sim('GET', '/state')).body;
    expect(state.tasks).toEqual([expect.objectContaining({ type: 'qmdestroy', id: '500', status: 'stopped', exitstatus: 'OK' })]);
    expect((await sim('GET', '/calls')).body.map((c: Json) => c.path)).toEqual(['/intent/deletion-requests/1/execute']);
  });

  it('injects Proxmox errors, node outages, unreachable endpoints and task failures', async () => {
    expect((await sim('POST', '/pve-faults', { method: 'POST', path: '^nodes/pve01/qemu$', status: 500, message: 'storage is full' })).status).toBe(204);
    const body = { run_uuid: 'r', diffs: [{ op: 'create', kind: 'qemu', payload: { vmid: 312, node: 'pve01', name: 'web-03' } }] };
    expect((await pb.request('POST', '/intent/apply?endpoint_id=1', { body })).body.results[0].message).toBe('500 Internal Server Error: storage is full');
    expect((await sim('PATCH', '/nodes/pve01', { status: 'offline' })).status).toBe(204);
    expect((await pb.request('POST', '/intent/apply?endpoint_id=1', { body })).body.results[0].message).toBe('595 Errors during connection establishment, proxy handler: No route to host');
    await sim('PATCH', '/nodes/pve01', { status: 'online' });
    await sim('POST', '/task-failures', { exitstatus: 'command failed' });
    expect((await pb.request('POST', '/intent/apply?endpoint_id=1', { body })).body.results[0].status).toBe('succeeded');
    expect(cluster().getGuest(312)).toBeUndefined();
    await sim('PATCH', '/endpoints/1', { reachable: false });
    const unreachable = await pb.request('POST', '/intent/apply?endpoint_id=1', { body });
    expect(unreachable.body.results[0].message).toContain("Could not connect to Proxmox endpoint 'lab'");
    expect(cluster().pveCalls('POST')).toHaveLength(3);
  });

  it('reports seeding mistakes as 400', async () => {
    expect((await sim('POST', '/guests', { vmid: 5, node: 'pve01', type: 'qemu' })).status).toBe(400);
    expect((await sim('POST', '/guests', { vmid: 600, node: 'nowhere', type: 'qemu' })).body.error).toBe('no node nowhere');
  });
});
