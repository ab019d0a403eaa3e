import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type Stack } from '../support/stack';
import { appliesTo, mergeAndWait } from '../support/merges';
import { DEMO } from '../../simulators/netbox';

const qemu = (vmid: number, extra: Record<string, unknown> = {}) => ({
  proxmox_vm_id: vmid, proxmox_vm_type: 'qemu', proxmox_node: 'pve01', proxmox_storage: 'local-lvm', ...extra,
});
const GENERATED_MAC = 'BC:24:11:[0-9A-F]{2}:[0-9A-F]{2}:[0-9A-F]{2}';

describe('NetBox VMInterfaces become Proxmox NICs (domain/nics.ts)', () => {
  let s: Stack;
  let labId: number;
  beforeAll(async () => {
    s = await startStack();
    labId = (await s.call(s.tokens.admin, 'GET', '/api/v1/proxmox-endpoints')).body.items.find((e: any) => e.name === 'lab').id;
  });
  afterAll(async () => { await s?.stop(); });

  const setDefaultBridge = async (bridge: string | null) => {
    const r = await s.call(s.tokens.admin, 'PATCH', `/api/v1/proxmox-endpoints/${labId}`, { defaultBridge: bridge });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body.defaultBridge).toBe(bridge);
  };
  const branch = (name: string) => s.netbox.createBranch({ name, owner: 'bob', customFields: { apply_to_proxmox: true } });

  it('validates the endpoint default bridge like a Proxmox bridge name', async () => {
    const bad = await s.call(s.tokens.admin, 'PATCH', `/api/v1/proxmox-endpoints/${labId}`, { defaultBridge: 'vmbr0,tag=5' });
    expect(bad.status).toBe(422);
    expect(JSON.stringify(bad.body)).toContain('a Proxmox bridge name');
    expect((await s.call(s.tokens.admin, 'GET', `/api/v1/proxmox-endpoints/${labId}`)).body.defaultBridge).toBeNull();
  });

  it('creates a qemu VM with exactly net0 (MAC, untagged VLAN, MTU, its own bridge) and net1 (disabled, the endpoint default bridge)', async () => {
    await setDefaultBridge('vmbr0');
    const mac = s.netbox.addMacAddress({ mac_address: '02:aa:bb:cc:dd:01' });
    const vlan = s.netbox.addVlan({ vid: 230, name: 'app' });
    const b = branch('two-nics');
    const vm = s.netbox.createVm(b.id, { name: 'nic-01', cluster: DEMO.clusterId, vcpus: '1.00', memory: 512, custom_fields: qemu(401) });
    s.netbox.createInterface(b.id, { virtual_machine: vm.pk, name: 'ens19', enabled: false });
    s.netbox.createInterface(b.id, {
      virtual_machine: vm.pk, name: 'ens18', mtu: 9000, mode: 'access', untagged_vlan: vlan.id, primary_mac_address: mac.id,
      custom_fields: { proxmox_bridge: 'vmbr1' },
    });
    const job = await mergeAndWait(s, b.id);
    expect(job.perVmResults[`vm-${vm.pk}`]).toMatchObject({ status: 'succeeded', op: 'create' });
    expect((appliesTo(s, 401)[0]!.body as any).diffs[0].payload.nics).toEqual([
      { key: 'net0', value: 'virtio=02:AA:BB:CC:DD:01,bridge=vmbr1,tag=230,mtu=9000' },
      { key: 'net1', value: 'virtio,bridge=vmbr0,link_down=1' },
    ]);
    const config = s.proxbox.cluster.getGuest(401)!.config;
    expect(Object.keys(config).filter((k) => /^net\d+$/.test(k)).sort()).toEqual(['net0', 'net1']);
    expect(config.net0).toBe('virtio=02:AA:BB:CC:DD:01,bridge=vmbr1,tag=230,mtu=9000');
    expect(config.net1).toMatch(new RegExp(`^virtio=${GENERATED_MAC},bridge=vmbr0,link_down=1$`));
    expect(job.drift).toEqual({});
  });

  it('creates an LXC container whose NIC takes the VM\'s proxmox_bridge', async () => {
    await setDefaultBridge(null);
    const b = branch('lxc-nic');
    const ct = s.netbox.createVm(b.id, {
      name: 'ct-nic-01', cluster: DEMO.clusterId, vcpus: '1.00', memory: 512,
      custom_fields: { proxmox_vm_id: 402, proxmox_vm_type: 'lxc', proxmox_node: 'pve02', proxmox_storage: 'local-lvm', proxmox_ostemplate: DEMO.lxcTemplate, proxmox_bridge: 'vmbr2' },
    });
    s.netbox.createInterface(b.id, { virtual_machine: ct.pk, name: 'eth0', mtu: 1400 });
    const job = await mergeAndWait(s, b.id);
    expect(job.perVmResults[`vm-${ct.pk}`]).toMatchObject({ status: 'succeeded', kind: 'lxc' });
    expect((appliesTo(s, 402)[0]!.body as any).diffs[0].payload.nics).toEqual([{ key: 'net0', value: 'name=eth0,bridge=vmbr2,mtu=1400,ip=dhcp' }]);
    expect(s.proxbox.cluster.getGuest(402)!.config.net0).toMatch(new RegExp(`^name=eth0,bridge=vmbr2,mtu=1400,ip=dhcp,hwaddr=${GENERATED_MAC},type=veth$`));
    expect(job.drift).toEqual({});
  });

  it('an interface-only change of an existing VM is its update and sends only the NIC that differs from Proxmox', async () => {
    await setDefaultBridge('vmbr0');
    const eth0 = s.netbox.view(null).list('interface').find((o) => o.data.virtual_machine === DEMO.vms.db01 && o.data.name === 'eth0')!;
    const b = branch('db-nics');
    // eth0 now names its bridge, which Proxmox already has: nothing to send for it.
    s.netbox.updateInterface(b.id, eth0.pk, { custom_fields: { proxmox_bridge: 'vmbr0' }, description: 'uplink' });
    s.netbox.createInterface(b.id, { virtual_machine: DEMO.vms.db01, name: 'eth1', mtu: 1400 });
    const before = String(s.proxbox.cluster.getGuest(105)!.config.net0);
    const job = await mergeAndWait(s, b.id);
    expect(job.perVmResults[`vm-${DEMO.vms.db01}`]).toMatchObject({ status: 'succeeded', op: 'update', vmid: 105 });
    const sent = appliesTo(s, 105).map((c) => (c.body as any).diffs[0]);
    expect(sent).toEqual([{ op: 'update', kind: 'qemu', netbox_id: DEMO.vms.db01, payload: { vmid: 105, node: 'pve01', nics: [{ key: 'net1', value: 'virtio,bridge=vmbr0,mtu=1400' }] } }]);
    const config = s.proxbox.cluster.getGuest(105)!.config;
    expect(config.net0).toBe(before);
    expect(config.net1).toMatch(new RegExp(`^virtio=${GENERATED_MAC},bridge=vmbr0,mtu=1400$`));
  });

  it('an update keeps the MAC Proxmox gave a NIC NetBox has no MAC for', async () => {
    const eth1 = s.netbox.view(null).list('interface').find((o) => o.data.virtual_machine === DEMO.vms.db01 && o.data.name === 'eth1')!;
    const mac = String(s.proxbox.cluster.getGuest(105)!.config.net1).split(',')[0];
    const b = branch('db-nic-vlan');
    s.netbox.updateInterface(b.id, eth1.pk, { mode: 'access', untagged_vlan: DEMO.serversVlan.id });
    const job = await mergeAndWait(s, b.id);
    expect(job.perVmResults[`vm-${DEMO.vms.db01}`]).toMatchObject({ status: 'succeeded' });
    expect((appliesTo(s, 105).at(-1)!.body as any).diffs[0].payload.nics).toEqual([{ key: 'net1', value: `${mac},bridge=vmbr0,tag=120,mtu=1400` }]);
    expect(s.proxbox.cluster.getGuest(105)!.config.net1).toBe(`${mac},bridge=vmbr0,tag=120,mtu=1400`);
  });

  it('no bridge anywhere: the plan blocks the VM saying what to set, and the merge writes nothing', async () => {
    await setDefaultBridge(null);
    const b = branch('no-bridge');
    const vm = s.netbox.createVm(b.id, { name: 'nic-02', cluster: DEMO.clusterId, vcpus: '1.00', memory: 512, custom_fields: qemu(403) });
    s.netbox.createInterface(b.id, { virtual_machine: vm.pk, name: 'eth0' });
    const message = 'Interface eth0: no Proxmox bridge: set the custom field proxmox_bridge on the interface or the VM (for example vmbr0), '
      + 'or defaultBridge on Proxmox endpoint lab (PATCH /api/v1/proxmox-endpoints/{id})';
    const plan = await s.call(s.tokens.carol, 'POST', `/api/v1/branches/${b.id}/plan`, {});
    expect(plan.status).toBe(200);
    expect(plan.body.permitted).toBe(false);
    expect(plan.body.verdicts).toEqual([expect.objectContaining({ netboxId: vm.pk, verdict: 'blocked', check: 'preflight', reason: 'nic_unmappable', message })]);
    expect(plan.body.message).toBe(`${message} (nic-02)`);
    const job = await mergeAndWait(s, b.id);
    expect(job.perVmResults[`vm-${vm.pk}`]).toMatchObject({ status: 'blocked', reason: 'nic_unmappable', message });
    expect(appliesTo(s, 403)).toHaveLength(0);
    expect(s.proxbox.cluster.getGuest(403)).toBeUndefined();
  });

  it('the drift check compares the NICs it sent with what Proxmox holds', async () => {
    await setDefaultBridge('vmbr0');
    const b = branch('nic-drift');
    const vm = s.netbox.createVm(b.id, { name: 'nic-03', cluster: DEMO.clusterId, vcpus: '1.00', memory: 512, custom_fields: qemu(404) });
    s.netbox.createInterface(b.id, { virtual_machine: vm.pk, name: 'eth0', mode: 'access', untagged_vlan: DEMO.serversVlan.id });
    s.proxbox.control.addFault({
      method: 'GET', path: '^/proxmox/pve01/qemu/404/config$', mode: 'fail', status: 200,
      body: { name: 'nic-03', cores: 1, memory: 512, net0: 'virtio=BC:24:11:00:04:04,bridge=vmbr7' },
    });
    const job = await mergeAndWait(s, b.id);
    expect(job.perVmResults[`vm-${vm.pk}`]).toMatchObject({ status: 'succeeded' });
    expect(job.drift).toEqual({ [`vm-${vm.pk}`]: { vmid: 404, fields: [
      { field: 'net0.bridge', desired: 'vmbr0', actual: 'vmbr7' },
      { field: 'net0.tag', desired: '120', actual: null },
    ] } });
  });
});
