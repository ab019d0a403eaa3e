import { beforeEach, describe, expect, it } from 'vitest';
import { ChangeDiff, MacAddress, Paginated, Vlan, VmInterface, VmInterfaceChangeData } from '../../contracts/netbox';
import { NetboxClient } from '../../clients/netbox';
import { indexBranchChanges, readBranchChanges } from '../../clients/netbox-branch-changes';
import { planChanges, planPage, type PlannedChange } from '../../domain/change-planner';
import { DEMO, createNetboxSimulator, type NetboxSimulator } from '../../simulators/netbox';

// In process: the simulator's Hono app answers the client's requests without a socket.
let sim: NetboxSimulator;
let client: NetboxClient;
const TOKEN = 'nbt_simkey.simtoken';
const get = async (path: string, branch?: string) => {
  const res = await sim.app.fetch(new Request(`http://netbox.test${path}`, {
    headers: { Authorization: `Bearer ${TOKEN}`, Accept: 'application/json', ...(branch ? { 'X-NetBox-Branch': branch } : {}) },
  }));
  return { status: res.status, body: await res.json() as any };
};

beforeEach(() => {
  sim = createNetboxSimulator({ demo: true, baseUrl: 'http://netbox.test' });
  client = new NetboxClient({ baseUrl: 'http://netbox.test', token: TOKEN, fetch: async (input, init) => sim.app.fetch(new Request(input, init)) });
});

describe('VMInterfaces, MAC addresses and VLANs as NetBox 4.x serves them (netbox.md §4, §7.1)', () => {
  function branchWithInterface() {
    const mac = sim.addMacAddress({ mac_address: 'bc:24:11:aa:bb:01' });
    const vlan = sim.addVlan({ vid: 120, name: 'servers' });
    const branch = sim.createBranch({ name: 'nics', customFields: { apply_to_proxmox: true } });
    const iface = sim.createInterface(branch.id, {
      virtual_machine: DEMO.vms.db01, name: 'eth1', mtu: 9000, mode: 'access', untagged_vlan: vlan.id, primary_mac_address: mac.id,
      custom_fields: { proxmox_bridge: 'vmbr0' },
    });
    return { mac, vlan, branch, iface };
  }

  it('an interface ChangeDiff holds change data: pks for the MAC address and the VLAN, the mode as a plain string', async () => {
    const { mac, vlan, branch, iface } = branchWithInterface();
    const page = Paginated(ChangeDiff).parse((await get(`/api/plugins/branching/changes/?branch_id=${branch.id}&object_type=virtualization.vminterface`)).body);
    expect(page.results).toHaveLength(1);
    const d = page.results[0]!;
    expect(d).toMatchObject({ object_type: 'virtualization.vminterface', object_id: iface.pk, action: { value: 'create', label: 'Created' }, original_data: null });
    const data = VmInterfaceChangeData.parse(d.modified_data);
    expect(data).toMatchObject({
      virtual_machine: DEMO.vms.db01, name: 'eth1', enabled: true, mtu: 9000, mode: 'access', untagged_vlan: vlan.id, tagged_vlans: [],
      primary_mac_address: mac.id, custom_fields: { proxmox_bridge: 'vmbr0', proxmox_nic_model: null },
    });
  });

  it('REST rows nest the primary MAC address and the VLANs; the branch header shows the branch', async () => {
    const { mac, vlan, branch } = branchWithInterface();
    const inMain = Paginated(VmInterface).parse((await get(`/api/virtualization/interfaces/?virtual_machine_id=${DEMO.vms.db01}`)).body);
    expect(inMain.results.map((i) => i.name)).toEqual(['eth0']);
    const rows = Paginated(VmInterface).parse((await get(`/api/virtualization/interfaces/?virtual_machine_id=${DEMO.vms.db01}`, branch.schemaId)).body);
    const eth1 = rows.results.find((i) => i.name === 'eth1')!;
    expect(eth1.primary_mac_address).toEqual({ id: mac.id, url: `http://netbox.test/api/dcim/mac-addresses/${mac.id}/`, display: 'BC:24:11:AA:BB:01', description: '', mac_address: 'BC:24:11:AA:BB:01' });
    expect(eth1.mac_address).toBe('BC:24:11:AA:BB:01');
    expect(eth1.untagged_vlan).toEqual({ id: vlan.id, url: `http://netbox.test/api/ipam/vlans/${vlan.id}/`, display: 'servers (120)', vid: 120, name: 'servers', description: '' });
    expect(eth1.mode).toEqual({ value: 'access', label: 'Access' });
    expect(eth1.custom_fields).toEqual({ proxmox_bridge: 'vmbr0', proxmox_nic_model: null });
  });

  it('serves dcim/mac-addresses and ipam/vlans by id, list and detail; unknown ids 404', async () => {
    const { mac, vlan } = branchWithInterface();
    expect(MacAddress.parse((await get(`/api/dcim/mac-addresses/${mac.id}/`)).body)).toMatchObject({ id: mac.id, mac_address: 'BC:24:11:AA:BB:01', assigned_object_type: null });
    expect(Paginated(Vlan).parse((await get(`/api/ipam/vlans/?id=${vlan.id}`)).body).results.map((v) => v.vid)).toEqual([120]);
    expect((await get('/api/dcim/mac-addresses/999/')).status).toBe(404);
    expect((await get('/api/ipam/vlans/999/')).body).toEqual({ detail: 'No VLAN matches the given query.' });
  });

  it('refuses an interface naming a MAC address or VLAN that does not exist, as NetBox does', () => {
    const branch = sim.createBranch({ name: 'bad' });
    expect(() => sim.createInterface(branch.id, { virtual_machine: DEMO.vms.db01, name: 'eth9', primary_mac_address: 999 })).toThrow(/Invalid pk \\"999\\"/);
    expect(() => sim.createInterface(branch.id, { virtual_machine: DEMO.vms.db01, name: 'eth9', mode: 'access', untagged_vlan: 998 })).toThrow(/Invalid pk \\"998\\"/);
    expect(() => sim.addMacAddress({ mac_address: 'not-a-mac' })).toThrow(/Invalid MAC address/);
    expect(() => sim.addVlan({ vid: 4095, name: 'x' })).toThrow(/4094/);
  });

  it('readBranchChanges resolves what the interface diffs name, reading the unmerged branch through X-NetBox-Branch', async () => {
    const { mac, vlan, branch } = branchWithInterface();
    const read = await readBranchChanges(client, await client.branch(branch.id));
    expect(read.nicDiffs).toHaveLength(1);
    expect(read.lookups.macAddresses).toEqual(new Map([[mac.id, 'BC:24:11:AA:BB:01']]));
    expect(read.lookups.vlanVids).toEqual(new Map([[vlan.id, 120]]));
    expect(read.lookups.interfaceNames).toEqual(new Map([[DEMO.vms.db01, ['eth0', 'eth1']]]));
    expect(read.lookups.interfaceOnlyVms?.get(DEMO.vms.db01)).toMatchObject({
      name: 'db-01', cluster: DEMO.clusterId, role: DEMO.roles.qemu, vcpus: '2.00', memory: 4096, tags: ['db', 'prod'],
      custom_fields: { proxmox_vm_id: 105, proxmox_node: 'pve01', proxmox_bridge: null },
    });
  });
});

describe('planning a branch a page at a time (the apply)', () => {
  it('plans exactly what the whole branch plans: children on other pages, duplicate VMIDs across pages, interface-only VMs', async () => {
    sim.buildDemoBranch();
    const branch = sim.createBranch({ name: 'paged', customFields: { apply_to_proxmox: true } });
    const cf = (vmid: number) => ({ proxmox_vm_id: vmid, proxmox_vm_type: 'qemu', proxmox_node: 'pve01', proxmox_storage: 'local-lvm' });
    const vms = [500, 501, 502, 503, 500, 504].map((vmid, i) => sim.createVm(branch.id, { name: `app-${i}`, cluster: DEMO.clusterId, vcpus: '1.00', memory: 512, custom_fields: cf(vmid) }));
    // Children created after every VM, last VM first: each VM's disk and interface diffs are on other pages than the VM's.
    for (const vm of [...vms].reverse()) {
      sim.createVirtualDisk(branch.id, { virtual_machine: vm.pk, name: 'scsi0', size: 4096 });
      sim.createInterface(branch.id, { virtual_machine: vm.pk, name: 'eth0', custom_fields: { proxmox_bridge: 'vmbr0' } });
    }
    const gone = sim.createVm(branch.id, { name: 'gone', cluster: DEMO.clusterId, custom_fields: cf(600) });
    sim.deleteVm(branch.id, gone.pk);
    // A VM of main changed only through a new interface, whose VMID one of the branch's creates also takes.
    const existing = sim.addMainVm({ name: 'legacy-01', cluster: DEMO.clusterId, vcpus: '1.00', memory: 512, custom_fields: cf(504) });
    sim.createInterface(branch.id, { virtual_machine: existing.pk, name: 'eth1', custom_fields: { proxmox_bridge: 'vmbr1' } });
    sim.mergeBranch(branch.id, 'alice');

    const paged = new NetboxClient({ baseUrl: 'http://netbox.test', token: TOKEN, pageSize: 2, fetch: async (input, init) => sim.app.fetch(new Request(input, init)) });
    const merged = await client.branch(branch.id);
    const whole = await readBranchChanges(client, merged);
    const expected = planChanges(whole.vmDiffs, whole.diskDiffs, whole.nicDiffs, whole.lookups, { warnPlaintextPassword: true });

    const reader = await indexBranchChanges(paged, merged);
    const pages: PlannedChange[][] = [];
    for await (const { page, lookups } of reader.pages()) pages.push(planPage(page, lookups, { warnPlaintextPassword: true }, reader.index));
    expect(pages.length).toBeGreaterThan(3);
    expect(pages.every((p) => p.length <= 2)).toBe(true);
    const byId = (a: PlannedChange, b: PlannedChange) => a.netboxId - b.netboxId;
    expect(pages.flat().sort(byId)).toEqual([...expected].sort(byId));
    expect(reader.clusterIds).toEqual([DEMO.clusterId]);

    const reasons = (name: string) => pages.flat().find((p) => p.name === name)!.findings.map((f) => f.reason);
    expect(reasons('app-0')).toContain('duplicate_vmid');
    expect(reasons('app-4')).toContain('duplicate_vmid');
    expect(reasons('app-5')).toContain('duplicate_vmid');
    expect(reasons('legacy-01')).toContain('duplicate_vmid');
    expect(reasons('app-1')).toEqual([]);
    const app1 = pages.flat().find((p) => p.name === 'app-1')!;
    expect(app1.payload).toMatchObject({ disks: [{ key: 'scsi0', value: 'local-lvm:4' }], nics: [{ key: 'net0' }] });
    expect(pages.flat().find((p) => p.name === 'gone')).toMatchObject({ vanished: true });
  });
});
