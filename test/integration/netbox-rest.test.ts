import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  Branch, BranchEvent, ChangeDiff, CustomField, DeviceRole, NetboxStatus, Paginated, VirtualDisk, VirtualMachine,
  VirtualMachineType, VmChangeData, VmInterface, toEpochMs,
} from '../../contracts/netbox';
import { DEMO, createNetboxSimulator, pythonJsonDumps, type NetboxSimulator } from '../../simulators/netbox';
import { changeDataTime, pythonIsoformatUtc, restTime } from '../../simulators/netbox/time';

const V2 = 'nbt_simkey.simtoken';
const V1 = 'legacy-sim-token';
const REST_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/;
const CHANGE_DATA_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

// A controllable clock whose milliseconds are never 000, so every timestamp carries a fraction.
let clockMs = Date.UTC(2026, 6, 24, 14, 3, 11, 902);
const tick = (ms = 1) => { clockMs += ms; };

let sim: NetboxSimulator;
let base: string;

// Bodies are untyped on purpose: assertions and the contract's zod schemas check them.
type Loose = any;
interface Res<T = Loose> { status: number; body: T; headers: Headers }
async function api<T = Loose>(path: string, opts: { auth?: string | null; branch?: string; method?: string; body?: unknown } = {}): Promise<Res<T>> {
  const headers: Record<string, string> = { Accept: 'application/json' };
  const auth = opts.auth === undefined ? `Bearer ${V2}` : opts.auth;
  if (auth !== null) headers.Authorization = auth;
  if (opts.branch) headers['X-NetBox-Branch'] = opts.branch;
  if (opts.body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch(`${base}${path}`, { method: opts.method ?? 'GET', headers, body: opts.body === undefined ? undefined : JSON.stringify(opts.body), redirect: 'manual' });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null, headers: res.headers };
}

beforeAll(async () => {
  sim = createNetboxSimulator({ demo: true, now: () => clockMs });
  base = (await sim.listen(0)).url;
});
afterAll(() => sim.close());
beforeEach(() => { sim.reset(); sim.control.clearCalls(); sim.control.clearFaults(); });

describe('authentication (netbox.md §1)', () => {
  it('accepts a v2 token as Bearer and a v1 token as Token', async () => {
    expect((await api('/api/status/', { auth: `Bearer ${V2}` })).status).toBe(200);
    expect((await api('/api/status/', { auth: `Token ${V1}` })).status).toBe(200);
  });

  it('answers 403 with the DRF detail when credentials are missing', async () => {
    const res = await api('/api/plugins/branching/branches/', { auth: null });
    expect(res.status).toBe(403);
    expect(res.body).toEqual({ detail: 'Authentication credentials were not provided.' });
    expect((await api('/api/status/', { auth: `Basic ${Buffer.from('a:b').toString('base64')}` })).status).toBe(403);
  });

  it('rejects unknown tokens and tokens sent with the wrong keyword', async () => {
    for (const auth of [`Token ${V2}`, `Bearer ${V1}`, 'Bearer nbt_other.key', 'Token nope', `Bearer ${V2} extra`]) {
      const res = await api('/api/status/', { auth });
      expect(res.status, auth).toBe(403);
      expect(typeof res.body.detail, auth).toBe('string');
    }
  });

  it('guards every /api/ route', async () => {
    expect(sim.buildDemoBranch().branch.id).toBe(42);
    const paths = [
      '/api/status/', '/api/plugins/branching/branches/', '/api/plugins/branching/branches/42/',
      '/api/plugins/branching/branch-events/', '/api/plugins/branching/changes/', '/api/virtualization/virtual-machines/',
      `/api/virtualization/virtual-machines/${DEMO.vms.db01}/`, '/api/virtualization/virtual-disks/', '/api/virtualization/interfaces/',
      '/api/dcim/device-roles/11/', '/api/virtualization/virtual-machine-types/1/', '/api/extras/custom-fields/',
      '/api/virtualization/clusters/', '/api/virtualization/clusters/5/', '/api/users/users/',
    ];
    for (const p of paths) expect((await api(p, { auth: null })).status, p).toBe(403);
    for (const p of paths) expect((await api(p)).status, p).toBe(200);
  });

  it('can answer 401 for invalid tokens and honours a custom token list', async () => {
    const other = createNetboxSimulator({ tokens: ['nbt_a.b'], invalidTokenStatus: 401 });
    const url = (await other.listen(0)).url;
    try {
      const get = (auth: string) => fetch(`${url}/api/status/`, { headers: { Authorization: auth } });
      expect((await get('Bearer nbt_a.b')).status).toBe(200);
      const denied = await get(`Bearer ${V2}`);
      expect(denied.status).toBe(401);
      expect(await denied.json()).toEqual({ detail: 'Invalid v2 token' });
      expect((await get(`Token ${V1}`)).status).toBe(401);
    } finally {
      await other.close();
    }
  });
});

describe('status and reference data', () => {
  it('reports the NetBox version and netbox_branching', async () => {
    const status = NetboxStatus.parse((await api('/api/status/')).body);
    expect(status['netbox-version']).toMatch(/^4\.5\./);
    expect(status.plugins).toHaveProperty('netbox_branching');
    expect(status.plugins.netbox_branching).toMatch(/^1\.1\./);
  });

  it('finds the proxmox_vm_id custom field by name, and loses it when removed', async () => {
    const page = Paginated(CustomField).parse((await api('/api/extras/custom-fields/?name=proxmox_vm_id')).body);
    expect(page.count).toBe(1);
    expect(page.results[0]).toMatchObject({ name: 'proxmox_vm_id', type: { value: 'integer' }, object_types: ['virtualization.virtualmachine'] });
    const branchFields = (await api('/api/extras/custom-fields/?object_type=netbox_branching.branch')).body;
    expect(branchFields.results.map((cf: { name: string }) => cf.name).sort()).toEqual(['apply_destroy_confirmed', 'apply_to_proxmox']);
    sim.removeCustomField('proxmox_vm_id');
    expect((await api('/api/extras/custom-fields/?name=proxmox_vm_id')).body.count).toBe(0);
  });

  it('serves device roles, VM types and clusters', async () => {
    const lxc = DeviceRole.parse((await api(`/api/dcim/device-roles/${DEMO.roles.lxc}/`)).body);
    expect(lxc.slug).toBe('container-lxc');
    expect(DeviceRole.parse((await api(`/api/dcim/device-roles/${DEMO.roles.qemu}/`)).body).slug).toBe('virtual-machine-qemu');
    expect(VirtualMachineType.parse((await api(`/api/virtualization/virtual-machine-types/${DEMO.vmTypes.lxc}/`)).body).slug).toBe('lxc-container');
    const cluster = (await api('/api/virtualization/clusters/5/')).body;
    expect(cluster).toMatchObject({ id: 5, name: 'lab-cluster', virtualmachine_count: 2 });
    expect((await api('/api/virtualization/clusters/?name=lab-cluster')).body.count).toBe(1);
    expect((await api('/api/virtualization/clusters/?name=nope')).body.count).toBe(0);
  });

  it('answers 404 with a detail for unknown objects and paths, and redirects a missing trailing slash', async () => {
    expect(await api('/api/dcim/device-roles/999/')).toMatchObject({ status: 404, body: { detail: 'No DeviceRole matches the given query.' } });
    expect((await api('/api/plugins/branching/branches/999/')).status).toBe(404);
    expect((await api('/api/virtualization/virtual-machines/abc/')).status).toBe(404);
    expect((await api('/api/nothing/here/')).status).toBe(404);
    const redirect = await api('/api/virtualization/virtual-machines?name=db-01');
    expect(redirect.status).toBe(301);
    expect(redirect.headers.get('location')).toBe('/api/virtualization/virtual-machines/?name=db-01');
  });
});

describe('pagination (netbox.md §1)', () => {
  it('follows absolute next links over several pages and sees every item once', async () => {
    for (let i = 0; i < 7; i++) sim.createBranch({ name: `b-${i}`, owner: 'bob' });
    const seen: number[] = [];
    let url: string | null = '/api/plugins/branching/branches/?limit=3&ordering=id';
    const pages: Array<{ next: string | null; previous: string | null; count: number }> = [];
    while (url) {
      const page = Paginated(Branch).parse((await api(url.replace(base, ''))).body);
      pages.push(page);
      seen.push(...page.results.map((b) => b.id));
      url = page.next;
    }
    expect(pages.map((p) => p.count)).toEqual([7, 7, 7]);
    expect(seen).toEqual([...new Set(seen)].sort((a, b) => a - b));
    expect(seen).toHaveLength(7);
    expect(pages[0]!.next).toBe(`${base}/api/plugins/branching/branches/?limit=3&offset=3&ordering=id`);
    expect(pages[0]!.previous).toBeNull();
    // DRF drops offset from a previous link that would reach the first page.
    expect(pages[1]!.previous).toBe(`${base}/api/plugins/branching/branches/?limit=3&ordering=id`);
    expect(pages[2]!.previous).toBe(`${base}/api/plugins/branching/branches/?limit=3&offset=3&ordering=id`);
    expect(pages[2]!.next).toBeNull();
  });

  it('defaults to 50, caps at 1000, treats limit=0 as the maximum and ignores bad values', async () => {
    for (let i = 0; i < 1004; i++) sim.addUser({ username: `user-${i}` });
    const users = (q: string) => api(`/api/users/users/${q}`).then((r) => r.body);
    const first = await users('');
    expect(first.count).toBe(1007);
    expect(first.results).toHaveLength(50);
    expect(first.next).toContain('limit=50');
    expect((await users('?limit=5000')).results).toHaveLength(1000);
    expect((await users('?limit=0')).results).toHaveLength(1000);
    expect((await users('?limit=abc')).results).toHaveLength(50);
    expect((await users('?limit=-1')).results).toHaveLength(50);
    const tail = await users('?limit=1000&offset=1000');
    expect(tail.results).toHaveLength(7);
    expect(tail.next).toBeNull();
    const beyond = await users('?offset=5000');
    expect(beyond.results).toEqual([]);
    expect(beyond.previous).not.toBeNull();
  });

  it('builds links from the configured base URL, not the one clients used', async () => {
    const proxied = createNetboxSimulator({ baseUrl: 'https://netbox.example.com/', demo: true });
    const url = (await proxied.listen(0)).url;
    try {
      const res = await fetch(`${url}/api/virtualization/virtual-machines/?limit=1`, { headers: { Authorization: `Token ${V1}` } });
      const page = await res.json() as { next: string; results: Array<{ url: string }> };
      expect(page.next).toBe('https://netbox.example.com/api/virtualization/virtual-machines/?limit=1&offset=1');
      expect(page.results[0]!.url).toMatch(/^https:\/\/netbox\.example\.com\/api\/virtualization\/virtual-machines\/\d+\/$/);
    } finally {
      await proxied.close();
    }
  });
});

describe('branch filters (netbox.md §2)', () => {
  async function setup() {
    const a = sim.createBranch({ name: 'alpha', owner: 'bob', description: 'first try', customFields: { apply_to_proxmox: true } });
    sim.createVm(a.id, { name: 'a-vm' });
    tick(10);
    const b = sim.createBranch({ name: 'beta', owner: 'alice', customFields: { apply_to_proxmox: false } });
    sim.createVm(b.id, { name: 'b-vm' });
    tick(10);
    const c = sim.createBranch({ name: 'gamma', owner: 'bob', description: 'opted in', customFields: { apply_to_proxmox: true } });
    sim.createVm(c.id, { name: 'c-vm' });
    tick(10);
    await sim.mergeBranch(a.id, 'alice');
    tick(10);
    await sim.mergeBranch(c.id, 'alice');
    tick(10);
    sim.archiveBranch(c.id);
    return { a, b, c };
  }
  const names = async (q: string) => (await api(`/api/plugins/branching/branches/${q}`)).body.results.map((x: { name: string }) => x.name);

  it('filters by repeated status, custom field, owner, name, q and id', async () => {
    await setup();
    expect(await names('?status=merged&status=archived')).toEqual(['alpha', 'gamma']);
    expect(await names('?status=ready')).toEqual(['beta']);
    expect(await names('?cf_apply_to_proxmox=true')).toEqual(['alpha', 'gamma']);
    expect(await names('?cf_apply_to_proxmox=false')).toEqual(['beta']);
    expect(await names('?status=merged&status=archived&cf_apply_to_proxmox=true')).toEqual(['alpha', 'gamma']);
    expect(await names('?cf_apply_to_proxmox=maybe')).toEqual(['alpha', 'beta', 'gamma']);
    expect(await names('?owner=bob')).toEqual(['alpha', 'gamma']);
    expect(await names(`?owner_id=${DEMO.users.alice}`)).toEqual(['beta']);
    expect(await names('?name=beta&name=gamma')).toEqual(['beta', 'gamma']);
    expect(await names('?q=OPTED')).toEqual(['gamma']);
    const gammaId = (await api('/api/plugins/branching/branches/?name=gamma')).body.results[0].id;
    expect(await names(`?id=${gammaId}`)).toEqual(['gamma']);
  });

  it('filters by created and last_updated ranges, with microsecond precision', async () => {
    const { b } = await setup();
    const created = sim.branchJson(b.id).created;
    expect(await names(`?created__gte=${created}`)).toEqual(['beta', 'gamma']);
    expect(await names(`?created__lte=${created}`)).toEqual(['alpha', 'beta']);
    expect(await names(`?created=${encodeURIComponent(created)}`)).toEqual(['beta']);
    const justAfter = restTime(b.createdUs + 1);
    expect(await names(`?created__gte=${justAfter}&created__lte=${justAfter}`)).toEqual([]);
  });

  it('orders by -merged_time with unmerged branches first, as PostgreSQL sorts NULLs', async () => {
    await setup();
    expect(await names('?ordering=-merged_time')).toEqual(['beta', 'gamma', 'alpha']);
    expect(await names('?ordering=merged_time')).toEqual(['alpha', 'gamma', 'beta']);
    expect(await names('?ordering=bogus')).toEqual(['alpha', 'beta', 'gamma']);
  });

  it('answers 400 with {"<filter>": [...]} for invalid values', async () => {
    await setup();
    const bad = await api('/api/plugins/branching/branches/?status=merged&status=exploded');
    expect(bad.status).toBe(400);
    expect(bad.body).toEqual({ status: ['Select a valid choice. exploded is not one of the available choices.'] });
    expect(await api('/api/plugins/branching/branches/?owner=nobody')).toMatchObject({ status: 400, body: { owner: [expect.any(String)] } });
    expect(await api('/api/plugins/branching/branches/?owner_id=999')).toMatchObject({ status: 400, body: { owner_id: [expect.any(String)] } });
    expect(await api('/api/plugins/branching/branches/?created__gte=yesterday')).toMatchObject({ status: 400, body: { created__gte: ['Enter a valid date/time.'] } });
    expect(await api('/api/plugins/branching/branches/?id=x')).toMatchObject({ status: 400, body: { id: ['Enter a number.'] } });
  });
});

describe('branch events (netbox.md §3)', () => {
  it('lists events newest first and filters by type and time range', async () => {
    const a = sim.createBranch({ name: 'a', owner: 'bob' });
    sim.createVm(a.id, { name: 'x' });
    tick(100);
    await sim.mergeBranch(a.id, 'alice');
    tick(100);
    sim.revertBranch(a.id, 'alice');
    tick(100);
    await sim.mergeBranch(a.id, 'alice');

    const all = Paginated(BranchEvent).parse((await api('/api/plugins/branching/branch-events/')).body);
    expect(all.results.map((e) => e.type.value)).toEqual(['merged', 'reverted', 'merged', 'provisioned']);
    const merged = Paginated(BranchEvent).parse((await api('/api/plugins/branching/branch-events/?type=merged&limit=200')).body);
    expect(merged.count).toBe(2);
    expect(merged.results.every((e) => e.user?.username === 'alice' && e.branch.id === a.id)).toBe(true);
    const [latest, earlier] = merged.results;
    const between = (await api(`/api/plugins/branching/branch-events/?type=merged&time__gte=${earlier!.time}&time__lte=${latest!.time}`)).body;
    expect(between.count).toBe(2);
    const after = (await api(`/api/plugins/branching/branch-events/?type=merged&time__gte=${restTime(Number(new Date(earlier!.time)) * 1000 + 1000)}`)).body;
    expect(after.results.map((e: { id: number }) => e.id)).toEqual([latest!.id]);
    expect((await api('/api/plugins/branching/branch-events/?type=merged&type=reverted')).body.count).toBe(3);
    expect((await api('/api/plugins/branching/branch-events/?type=exploded')).status).toBe(400);
    expect((await api('/api/plugins/branching/branch-events/?time__lte=nonsense')).status).toBe(400);
  });
});

describe('ChangeDiff listing and filters (netbox.md §4)', () => {
  it('filters the demo branch by branch_id, object_type, action, object_id, id and q', async () => {
    const { branch } = sim.buildDemoBranch();
    const get = async (q: string) => Paginated(ChangeDiff).parse((await api(`/api/plugins/branching/changes/${q}`)).body);
    const vms = await get(`?branch_id=${branch.id}&object_type=virtualization.virtualmachine&limit=1000`);
    expect(vms.results.map((d) => [d.object_repr, d.action.value]).sort()).toEqual([
      ['cache-01', 'create'], ['db-01', 'update'], ['old-app-02', 'delete'], ['web-03', 'create'],
    ]);
    expect((await get(`?branch_id=${branch.id}&object_type=virtualization.virtualdisk`)).results.map((d) => d.action.value).sort()).toEqual(['create', 'create', 'delete']);
    // old-app-02's eth0 deleted with it, web-03's eth0 created.
    expect((await get(`?branch_id=${branch.id}&object_type=virtualization.vminterface`)).results.map((d) => d.action.value).sort()).toEqual(['create', 'delete']);
    expect((await get(`?branch_id=${branch.id}&object_type=bogus`)).count).toBe(0);
    expect((await get(`?branch_id=${branch.id}&object_type_id=83`)).count).toBe(4);
    const cd = await get(`?branch_id=${branch.id}&object_type=virtualization.virtualmachine&action=create&action=delete`);
    expect(cd.results.map((d) => d.object_repr).sort()).toEqual(['cache-01', 'old-app-02', 'web-03']);
    expect((await get(`?branch_id=${branch.id}&object_id=${DEMO.vms.oldApp02}`)).results.map((d) => d.object_type)).toEqual(['virtualization.virtualmachine']);
    const one = vms.results[0]!;
    expect((await get(`?id=${one.id}`)).results.map((d) => d.id)).toEqual([one.id]);
    expect((await get(`?q=web`)).results.map((d) => d.object_repr)).toEqual(['web-03']);
    expect((await api(`/api/plugins/branching/changes/${one.id}/`)).body.id).toBe(one.id);
  });

  it('filters by schema_id under `branch`, and rejects a pk there with a 400', async () => {
    const a = sim.createBranch({ name: 'a', owner: 'bob' });
    const b = sim.createBranch({ name: 'b', owner: 'bob' });
    sim.createVm(a.id, { name: 'in-a' });
    sim.createVm(b.id, { name: 'in-b' });
    const bySchema = (await api(`/api/plugins/branching/changes/?branch=${b.schemaId}`)).body;
    expect(bySchema.results.map((d: { object_repr: string }) => d.object_repr)).toEqual(['in-b']);
    const both = (await api(`/api/plugins/branching/changes/?branch_id=${a.id}&branch_id=${b.id}`)).body;
    expect(both.count).toBe(2);
    const wrong = await api(`/api/plugins/branching/changes/?branch=${b.id}`);
    expect(wrong.status).toBe(400);
    expect(wrong.body).toEqual({ branch: [`Select a valid choice. ${b.id} is not one of the available choices.`] });
    expect((await api('/api/plugins/branching/changes/?branch_id=999')).status).toBe(400);
    expect((await api('/api/plugins/branching/changes/?action=move')).body).toEqual({ action: ['Select a valid choice. move is not one of the available choices.'] });
  });

  it('orders by -last_updated by default, which is not creation order', async () => {
    const a = sim.createBranch({ name: 'a', owner: 'bob' });
    const first = sim.createVm(a.id, { name: 'first' });
    tick();
    sim.createVm(a.id, { name: 'second' });
    tick();
    sim.updateVm(a.id, first.pk, { memory: 1 });
    const page = (await api(`/api/plugins/branching/changes/?branch_id=${a.id}`)).body;
    expect(page.results.map((d: { object_repr: string }) => d.object_repr)).toEqual(['first', 'second']);
    const byId = (await api(`/api/plugins/branching/changes/?branch_id=${a.id}&ordering=id`)).body;
    expect(byId.results.map((d: { object_repr: string }) => d.object_repr)).toEqual(['first', 'second']);
    const byIdDesc = (await api(`/api/plugins/branching/changes/?branch_id=${a.id}&ordering=-id`)).body;
    expect(byIdDesc.results.map((d: { object_repr: string }) => d.object_repr)).toEqual(['second', 'first']);
    const paged = (await api(`/api/plugins/branching/changes/?branch_id=${a.id}&limit=1&offset=1`)).body;
    expect(paged.results.map((d: { object_repr: string }) => d.object_repr)).toEqual(['second']);
  });
});

describe('REST versus change-data representation (netbox.md §1)', () => {
  it('gives REST choice objects, numeric vcpus, nested refs, tag objects and microsecond datetimes', async () => {
    const vm = VirtualMachine.parse((await api(`/api/virtualization/virtual-machines/${DEMO.vms.db01}/`)).body);
    expect(vm.status).toEqual({ value: 'active', label: 'Active' });
    expect(vm.vcpus).toBe(2);
    expect(vm.memory).toBe(4096);
    expect(vm.disk).toBe(65536);
    expect(vm.cluster).toMatchObject({ id: 5, display: 'lab-cluster' });
    expect(vm.role).toMatchObject({ id: DEMO.roles.qemu, slug: 'virtual-machine-qemu' });
    expect(vm.tags.map((t) => t.name)).toEqual(['db', 'prod']);
    expect(vm.custom_fields).toMatchObject({ proxmox_vm_id: 105, proxmox_vm_type: 'qemu', proxmox_node: 'pve01', cloud_init_user: null });
    expect(vm.created).toMatch(REST_TIME);
    expect(vm.last_updated).toMatch(REST_TIME);
    expect((await api(`/api/virtualization/virtual-machines/?cf_proxmox_vm_id=190`)).body.results.map((v: { name: string }) => v.name)).toEqual(['old-app-02']);
    expect((await api(`/api/virtualization/virtual-machines/?tag=db`)).body.count).toBe(1);
    expect((await api(`/api/virtualization/virtual-machines/?tag=nope`)).status).toBe(400);
  });

  it('gives change data with pks, plain strings, decimal strings, tag names and no created/last_updated', async () => {
    const { branch } = sim.buildDemoBranch();
    const page = (await api(`/api/plugins/branching/changes/?branch_id=${branch.id}&object_id=${DEMO.vms.db01}`)).body;
    const diff = ChangeDiff.parse(page.results[0]);
    expect(diff.last_updated).toMatch(REST_TIME);
    const modified = VmChangeData.parse(diff.modified_data);
    expect(modified).toMatchObject({ vcpus: '4.00', memory: 8192, cluster: 5, role: DEMO.roles.qemu, status: 'active', tags: ['db', 'prod'] });
    expect(diff.modified_data).not.toHaveProperty('created');
    expect(diff.modified_data).not.toHaveProperty('last_updated');
    expect(diff.original_data).toMatchObject({ vcpus: '2.00', memory: 4096, start_on_boot: 'on', primary_ip4: 4410 });
  });

  it('formats times like Python and Django, including zero fractions', () => {
    const us = 1784901791902315;
    expect(restTime(us)).toBe('2026-07-24T14:03:11.902315Z');
    expect(changeDataTime(us)).toBe('2026-07-24T14:03:11.902Z');
    expect(pythonIsoformatUtc(us)).toBe('2026-07-24T14:03:11.902315+00:00');
    expect(restTime(1784901791000000)).toBe('2026-07-24T14:03:11Z');
    expect(changeDataTime(1784901791000000)).toBe('2026-07-24T14:03:11Z');
    expect(changeDataTime(1784901791000123)).toBe('2026-07-24T14:03:11.000Z');
    expect(toEpochMs(restTime(us))).toBe(toEpochMs(changeDataTime(us)));
    expect(CHANGE_DATA_TIME.test(changeDataTime(us))).toBe(true);
  });

  it('serialises like Python json.dumps', () => {
    expect(pythonJsonDumps({ a: 1, b: [true, null, 'x'], c: { d: 'é"\n' }, e: 1.5 })).toBe('{"a": 1, "b": [true, null, "x"], "c": {"d": "\\u00e9\\"\\n"}, "e": 1.5}');
    expect(pythonJsonDumps('😀\u007f')).toBe('"\\ud83d\\ude00\\u007f"');
    expect(pythonJsonDumps([])).toBe('[]');
  });
});

describe('X-NetBox-Branch reads', () => {
  it('reads the branch working state; without the header reads main', async () => {
    const { branch, web03 } = sim.buildDemoBranch();
    const sid = branch.schemaId;
    expect((await api(`/api/virtualization/virtual-machines/${web03.pk}/`)).status).toBe(404);
    const inBranch = VirtualMachine.parse((await api(`/api/virtualization/virtual-machines/${web03.pk}/`, { branch: sid })).body);
    expect(inBranch).toMatchObject({ name: 'web-03', vcpus: 2, memory: 2048, disk: 32768 });
    expect(inBranch.custom_fields.proxmox_vm_id).toBe(312);
    expect(VirtualMachine.parse((await api(`/api/virtualization/virtual-machines/${DEMO.vms.db01}/`, { branch: sid })).body).vcpus).toBe(4);
    expect(VirtualMachine.parse((await api(`/api/virtualization/virtual-machines/${DEMO.vms.db01}/`)).body).vcpus).toBe(2);
    expect((await api(`/api/virtualization/virtual-machines/${DEMO.vms.oldApp02}/`, { branch: sid })).status).toBe(404);
    expect((await api(`/api/virtualization/virtual-machines/${DEMO.vms.oldApp02}/`)).status).toBe(200);

    const disks = Paginated(VirtualDisk).parse((await api(`/api/virtualization/virtual-disks/?virtual_machine_id=${web03.pk}`, { branch: sid })).body);
    expect(disks.results.map((d) => [d.name, d.size, d.virtual_machine.id])).toEqual([['scsi0', 32768, web03.pk]]);
    expect((await api(`/api/virtualization/virtual-disks/?virtual_machine_id=${web03.pk}`)).status).toBe(400);
    const mainIfaces = Paginated(VmInterface).parse((await api(`/api/virtualization/interfaces/?virtual_machine_id=${DEMO.vms.oldApp02}`)).body);
    expect(mainIfaces.results.map((i) => i.name)).toEqual(['eth0']);
    expect((await api(`/api/virtualization/interfaces/?virtual_machine_id=${DEMO.vms.db01}`, { branch: sid })).body.count).toBe(1);
    const names = (await api('/api/virtualization/virtual-machines/', { branch: sid })).body.results.map((v: { name: string }) => v.name);
    expect(names).toEqual(['cache-01', 'db-01', 'web-03']);
  });

  it('rejects an unknown schema_id and a branch that is no longer ready', async () => {
    const { branch } = sim.buildDemoBranch();
    expect(await api('/api/virtualization/virtual-machines/', { branch: 'zzzzzzzz' })).toMatchObject({ status: 400, body: { detail: expect.stringContaining('Invalid branch') } });
    expect((await api('/api/virtualization/virtual-machines/', { branch: `branch_${branch.schemaId}` })).status).toBe(400);
    await sim.mergeBranch(branch.id, 'alice');
    expect((await api('/api/virtualization/virtual-machines/', { branch: branch.schemaId })).status).toBe(400);
  });

  it('PATCHes custom fields in main, or inside a branch with the header', async () => {
    const a = sim.createBranch({ name: 'a', owner: 'bob' });
    const patched = await api(`/api/virtualization/virtual-machines/${DEMO.vms.db01}/`, {
      method: 'PATCH', body: { custom_fields: { proxbox_intent_state: 'applied', proxbox_last_apply_run_id: 'apply:k3x9p2qa:1' } },
    });
    expect(patched.status).toBe(200);
    expect(patched.body.custom_fields).toMatchObject({ proxbox_intent_state: 'applied', proxmox_vm_id: 105 });
    expect(sim.view(null).get('vm', DEMO.vms.db01)!.data.custom_fields).toMatchObject({ proxbox_intent_state: 'applied' });
    expect((await api(`/api/virtualization/virtual-machines/${DEMO.vms.db01}/`, { method: 'PATCH', body: { custom_fields: { nope: 1 } } })).status).toBe(400);

    await api(`/api/virtualization/virtual-machines/${DEMO.vms.db01}/`, { method: 'PATCH', branch: a.schemaId, body: { memory: 2048 } });
    const diffs = (await api(`/api/plugins/branching/changes/?branch_id=${a.id}`)).body.results;
    expect(diffs).toHaveLength(1);
    expect(diffs[0].diff).toEqual({ original: { memory: 4096 }, modified: { memory: 2048 }, current: { memory: 4096 } });
    expect(VirtualMachine.parse((await api(`/api/virtualization/virtual-machines/${DEMO.vms.db01}/`)).body).memory).toBe(4096);
  });
});

describe('fault injection and the call log', () => {
  it('fails matching requests a limited number of times', async () => {
    sim.control.addFault({ method: 'GET', path: '^/api/plugins/branching/changes/$', mode: 'fail', status: 503, times: 1 });
    const failed = await api('/api/plugins/branching/changes/');
    expect(failed).toMatchObject({ status: 503, body: { detail: 'simulated failure (503)' } });
    expect((await api('/api/plugins/branching/changes/')).status).toBe(200);
    const calls = sim.control.callsTo('GET', '/api/plugins/branching/changes/');
    expect(calls.map((c) => c.status)).toEqual([503, 200]);
    expect(calls[0]!.headers.authorization).toBe(`Bearer ${V2}`);
  });

  it('takes faults over HTTP and can return a permission error or drop the connection', async () => {
    const post = (body: unknown) => fetch(`${base}/_sim/faults`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
    expect((await post({ path: '^/api/virtualization/virtual-machines/', status: 403, mode: 'fail', body: { detail: 'You do not have permission to perform this action.' } })).status).toBe(204);
    expect(await api('/api/virtualization/virtual-machines/')).toMatchObject({ status: 403, body: { detail: 'You do not have permission to perform this action.' } });
    expect((await post({ path: 'x', mode: 'explode' })).status).toBe(400);
    await fetch(`${base}/_sim/faults`, { method: 'DELETE' });
    sim.control.addFault({ path: '^/api/status/$', mode: 'drop', times: 1 });
    await expect(api('/api/status/')).rejects.toThrow();
    expect((await api('/api/status/')).status).toBe(200);
  });

  it('slows matching requests down', async () => {
    sim.control.addFault({ path: '^/api/status/$', mode: 'slow', delayMs: 150, times: 1 });
    const started = Date.now();
    expect((await api('/api/status/')).status).toBe(200);
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
  });
});
