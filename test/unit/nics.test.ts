import { describe, expect, it } from 'vitest';
import {
  assignNicKeys, desiredNicOf, mapInterface, naturalCompare, nicDrift, nicValue, nicsToSend, plannedNics, type InterfaceFacts, type NicSources,
} from '../../domain/nics';
import { planChanges } from '../../domain/change-planner';
import { driftOf } from '../../domain/drift';
import { diff, noLookups, vm } from '../support/change-diffs';

const iface = (over: Partial<InterfaceFacts> = {}): InterfaceFacts => ({
  netboxId: 1, name: 'eth0', enabled: true, mtu: null, macAddress: null, mode: null, untaggedVid: null, taggedVids: [],
  customFields: { proxmox_bridge: 'vmbr0' }, ...over,
});
const qemu: NicSources = { kind: 'qemu', vmBridge: null, endpointBridge: null, endpointName: 'pve-lab' };
const lxc: NicSources = { ...qemu, kind: 'lxc' };
const value = (i: InterfaceFacts, src = qemu, create = true) => {
  const m = mapInterface(i, 'net0', src);
  if (!m.ok) throw new Error(m.message);
  return nicValue(src.kind, m.nic, { create });
};
const blockOf = (i: InterfaceFacts, src = qemu) => {
  const m = mapInterface(i, 'net0', src);
  if (m.ok) throw new Error(`mapped: ${nicValue(src.kind, m.nic)}`);
  return m.message;
};

describe('mapInterface: every field', () => {
  it('qemu: virtio by default, bridge only', () => expect(value(iface())).toBe('virtio,bridge=vmbr0'));
  it('qemu: model from proxmox_nic_model (case-insensitive), MAC as model=MAC upper-case', () => {
    expect(value(iface({ macAddress: 'bc:24:11:5a:0c:01', customFields: { proxmox_bridge: 'vmbr0', proxmox_nic_model: 'E1000' } })))
      .toBe('e1000=BC:24:11:5A:0C:01,bridge=vmbr0');
  });
  it('qemu: VLAN tag from the untagged VLAN of an Access interface, MTU, link_down for a disabled interface', () => {
    expect(value(iface({ mode: 'access', untaggedVid: 120, mtu: 9000, enabled: false }))).toBe('virtio,bridge=vmbr0,tag=120,mtu=9000,link_down=1');
  });
  it('mode Tagged without tagged VLANs is an access port; no mode means no tag', () => {
    expect(value(iface({ mode: 'tagged', untaggedVid: 7 }))).toBe('virtio,bridge=vmbr0,tag=7');
    expect(value(iface({ mode: null, untaggedVid: 7 }))).toBe('virtio,bridge=vmbr0');
  });
  it('lxc: name=<interface>, bridge, hwaddr, tag, mtu, link_down, ip=dhcp at create only', () => {
    expect(value(iface({ macAddress: 'BC-24-11-00-00-01', mode: 'access', untaggedVid: 30, mtu: 1400, enabled: false }), lxc))
      .toBe('name=eth0,bridge=vmbr0,hwaddr=BC:24:11:00:00:01,tag=30,mtu=1400,link_down=1,ip=dhcp');
    expect(value(iface(), lxc, false)).toBe('name=eth0,bridge=vmbr0');
  });
  it('bridge: the interface first, then the VM, then the endpoint default', () => {
    expect(value(iface({ customFields: { proxmox_bridge: 'vmbr1' } }), { ...qemu, vmBridge: 'vmbr2', endpointBridge: 'vmbr3' })).toBe('virtio,bridge=vmbr1');
    expect(value(iface({ customFields: {} }), { ...qemu, vmBridge: 'vmbr2', endpointBridge: 'vmbr3' })).toBe('virtio,bridge=vmbr2');
    expect(value(iface({ customFields: { proxmox_bridge: '  ' } }), { ...qemu, endpointBridge: 'vmbr3' })).toBe('virtio,bridge=vmbr3');
  });
});

describe('mapInterface: every block says what to set', () => {
  it('no bridge anywhere', () => {
    expect(blockOf(iface({ customFields: {} }))).toBe('Interface eth0: no Proxmox bridge: set the custom field proxmox_bridge on the interface or the VM '
      + '(for example vmbr0), or defaultBridge on Proxmox endpoint pve-lab (PATCH /api/v1/proxmox-endpoints/{id})');
    expect(blockOf(iface({ customFields: {} }), { ...qemu, endpointName: null })).toContain('defaultBridge on Proxmox endpoint (none serves this cluster)');
  });
  it('a bridge that is not a Proxmox bridge name, naming where it came from', () => {
    expect(blockOf(iface({ customFields: { proxmox_bridge: 'vmbr0,tag=5' } }))).toBe(
      "Interface eth0: bridge 'vmbr0,tag=5' (proxmox_bridge of interface eth0) is not a Proxmox bridge name: use letters, digits, '-', '_' or '.', at most 15 characters (for example vmbr0)");
    expect(blockOf(iface({ customFields: {} }), { ...qemu, vmBridge: 'a-very-long-bridge' })).toContain('(proxmox_bridge of the VM)');
  });
  it('an unknown model; a model on LXC', () => {
    expect(blockOf(iface({ customFields: { proxmox_bridge: 'vmbr0', proxmox_nic_model: 'virtio-net' } })))
      .toMatch(/^Interface eth0: NIC model 'virtio-net' is not one Proxmox knows: set proxmox_nic_model to one of virtio, e1000, .*vmxnet3, or clear it for virtio$/);
    expect(blockOf(iface({ customFields: { proxmox_bridge: 'vmbr0', proxmox_nic_model: 'e1000' } }), lxc))
      .toBe("Interface eth0: LXC containers have no NIC model: clear proxmox_nic_model ('e1000')");
  });
  it('an LXC interface name that is not a Linux interface name', () => {
    expect(blockOf(iface({ name: 'Primary NIC' }), lxc)).toContain("'Primary NIC' is not a Linux interface name, which an LXC NIC needs: rename it");
  });
  it('MAC addresses: not one, multicast', () => {
    expect(blockOf(iface({ macAddress: 'zz:24:11:00:00:01' }))).toBe("Interface eth0: MAC address 'zz:24:11:00:00:01' is not a MAC address: correct its primary MAC address");
    expect(blockOf(iface({ macAddress: '01:00:5e:00:00:01' }))).toBe('Interface eth0: MAC address 01:00:5E:00:00:01 is a multicast address, which Proxmox refuses: set a unicast primary MAC address (second hex digit even)');
  });
  it('MTU out of range per kind, MTU on a non-virtio model', () => {
    expect(blockOf(iface({ mtu: 500 }))).toBe("Interface eth0: MTU 500 is outside what Proxmox accepts for a QEMU NIC (576–65520): set the MTU in that range, or clear it to use the bridge's");
    expect(value(iface({ mtu: 576 }))).toBe('virtio,bridge=vmbr0,mtu=576');
    expect(blockOf(iface({ mtu: 63 }), lxc)).toContain('for an LXC NIC (64–65535)');
    expect(value(iface({ mtu: 64 }), lxc, false)).toBe('name=eth0,bridge=vmbr0,mtu=64');
    expect(blockOf(iface({ mtu: 1500, customFields: { proxmox_bridge: 'vmbr0', proxmox_nic_model: 'e1000' } })))
      .toBe('Interface eth0: Proxmox sets an MTU only on virtio NICs: clear the MTU, or set proxmox_nic_model to virtio (it is e1000)');
  });
  it('VLAN modes a Proxmox NIC cannot express', () => {
    const tail = 'cannot be expressed as a Proxmox NIC, which carries one untagged VLAN (tag): set the mode to Access with an untagged VLAN, or clear the mode';
    expect(blockOf(iface({ mode: 'tagged', untaggedVid: 5, taggedVids: [10, 20] }))).toBe(`Interface eth0: 802.1Q mode Tagged with tagged VLANs (10, 20) ${tail}`);
    expect(blockOf(iface({ mode: 'tagged-all' }))).toBe(`Interface eth0: 802.1Q mode Tagged (All) ${tail}`);
    expect(blockOf(iface({ mode: 'q-in-q' }), lxc)).toBe(`Interface eth0: 802.1Q mode Q-in-Q ${tail}`);
  });
});

describe('NIC keys', () => {
  it('net<N> names keep their key; the others take free keys in natural name order', () => {
    expect(Object.fromEntries(assignNicKeys(['eth10', 'eth2', 'net0', 'mgmt']))).toEqual({ net0: 'net0', eth2: 'net1', eth10: 'net2', mgmt: 'net3' });
    expect(naturalCompare('eth2', 'eth10')).toBeLessThan(0);
    expect(assignNicKeys(Array.from({ length: 33 }, (_, i) => `e${i}`)).size).toBe(32);
  });
});

describe('updates against live Proxmox and drift', () => {
  const items = [{ key: 'net0', value: 'virtio,bridge=vmbr1' }, { key: 'net1', value: 'e1000=BC:24:11:00:00:02,bridge=vmbr0,tag=5' }];
  it('sends only the NICs that differ, keeping Proxmox MAC and unmodelled options', () => {
    const config = { net0: 'virtio=BC:24:11:00:00:01,bridge=vmbr0,firewall=1', net1: 'e1000=BC:24:11:00:00:02,bridge=vmbr0,tag=5' };
    expect(nicsToSend('qemu', items, config)).toEqual([{ key: 'net0', value: 'virtio=BC:24:11:00:00:01,bridge=vmbr1,firewall=1' }]);
    expect(nicsToSend('qemu', items, { ...config, net0: 'virtio=BC:24:11:00:00:01,bridge=vmbr1' })).toEqual([]);
  });
  it('a NIC Proxmox does not have is sent as asked; link_down=0 counts as up', () => {
    expect(nicsToSend('qemu', [{ key: 'net2', value: 'virtio,bridge=vmbr0' }], {})).toEqual([{ key: 'net2', value: 'virtio,bridge=vmbr0' }]);
    expect(nicsToSend('qemu', [{ key: 'net0', value: 'virtio,bridge=vmbr0' }], { net0: 'virtio=BC:24:11:00:00:01,bridge=vmbr0,link_down=0' })).toEqual([]);
  });
  it('lxc: ip and type stay as Proxmox has them', () => {
    expect(nicsToSend('lxc', [{ key: 'net0', value: 'name=eth0,bridge=vmbr0,tag=9' }], { net0: 'name=eth0,bridge=vmbr0,hwaddr=BC:24:11:00:00:09,ip=192.0.2.9/24,type=veth' }))
      .toEqual([{ key: 'net0', value: 'name=eth0,bridge=vmbr0,hwaddr=BC:24:11:00:00:09,tag=9,ip=192.0.2.9/24,type=veth' }]);
  });
  it('drift names each NIC field that differs, and a missing NIC', () => {
    expect(nicDrift('qemu', items, { net1: 'e1000=BC:24:11:00:00:03,bridge=vmbr0' })).toEqual([
      { field: 'net0', desired: 'virtio,bridge=vmbr1', actual: null },
      { field: 'net1.macaddr', desired: 'BC:24:11:00:00:02', actual: 'BC:24:11:00:00:03' },
      { field: 'net1.tag', desired: '5', actual: null },
    ]);
    expect(driftOf('qemu', { vmid: 1, node: 'n', nics: items }, { net0: 'virtio=BC:24:11:00:00:01,bridge=vmbr1', net1: 'e1000=BC:24:11:00:00:02,bridge=vmbr0,tag=5' })).toEqual([]);
  });
  it('a payload item reads back as the NIC it asks for', () => {
    expect(desiredNicOf('lxc', { key: 'net3', value: 'name=eth1,bridge=vmbr0,hwaddr=bc:24:11:00:00:01,mtu=1400,link_down=1,ip=dhcp' })).toEqual({
      key: 'net3', interfaceName: 'eth1', model: null, macaddr: 'BC:24:11:00:00:01', bridge: 'vmbr0', tag: null, mtu: 1400, linkDown: true,
    });
    expect(desiredNicOf('qemu', { key: 'scsi0', value: 'x' })).toBeNull();
  });
});

const nicDiff = (action: 'create' | 'update' | 'delete', id: number, data: Record<string, unknown> | null, original: Record<string, unknown> | null = null) =>
  diff(action, id, { modified: data, original }, 'virtualization.vminterface');
const ifData = (over: Record<string, unknown> = {}) => ({
  virtual_machine: 812, name: 'eth0', enabled: true, mtu: null, primary_mac_address: null, mode: null, untagged_vlan: null, tagged_vlans: [],
  custom_fields: { proxmox_bridge: null, proxmox_nic_model: null }, ...over,
});

describe('planChanges with interface ChangeDiffs', () => {
  const lookups = { ...noLookups, macAddresses: new Map([[77, 'bc:24:11:aa:bb:01']]), vlanVids: new Map([[5, 120]]) };
  const opts = { warnPlaintextPassword: false, endpointOf: () => ({ name: 'pve-lab', defaultBridge: 'vmbr0' }) };

  it('a create carries every interface, keys in name order, MAC and VLAN resolved from their pks', () => {
    const [p] = planChanges([diff('create', 812, { modified: vm() })], [], [
      nicDiff('create', 2, ifData({ name: 'eth1', enabled: false })),
      nicDiff('create', 1, ifData({ primary_mac_address: 77, mode: 'access', untagged_vlan: 5, mtu: 9000 })),
    ], lookups, opts);
    expect(p!.findings).toEqual([]);
    expect((p!.payload as { nics: unknown }).nics).toEqual([
      { key: 'net0', value: 'virtio=BC:24:11:AA:BB:01,bridge=vmbr0,tag=120,mtu=9000' },
      { key: 'net1', value: 'virtio,bridge=vmbr0,link_down=1' },
    ]);
  });

  it('an unmappable interface blocks the VM; an unread MAC blocks too', () => {
    const [p] = planChanges([diff('create', 812, { modified: vm() })], [], [nicDiff('create', 1, ifData({ primary_mac_address: 78 }))], lookups,
      { warnPlaintextPassword: false, endpointOf: () => null });
    expect(p!.findings.map((f) => [f.severity, f.reason, f.message])).toEqual([
      ['blocked', 'nic_unmappable', 'Interface eth0: its primary MAC address (78) could not be read from NetBox'],
    ]);
    const [q] = planChanges([diff('create', 812, { modified: vm() })], [], [nicDiff('create', 1, ifData())], lookups, { warnPlaintextPassword: false });
    expect(q!.findings[0]!.message).toContain('no Proxmox bridge: set the custom field proxmox_bridge');
  });

  it('an interface added to an existing VM is an update of that VM carrying only its NIC, keyed among the VM\'s interfaces', () => {
    const existing = vm({ name: 'db-01' }, { proxmox_vm_id: 105, proxmox_bridge: 'vmbr9' });
    const planned = planChanges([], [], [nicDiff('create', 3, ifData({ virtual_machine: 805, name: 'eth1' }))], {
      ...lookups, interfaceNames: new Map([[805, ['eth0', 'eth1']]]), interfaceOnlyVms: new Map([[805, existing]]),
    }, opts);
    expect(planned).toHaveLength(1);
    expect(planned[0]).toMatchObject({ key: 'vm-805', op: 'update', vmid: 105, node: 'pve01', name: 'db-01', findings: [] });
    expect(planned[0]!.payload).toEqual({ vmid: 105, node: 'pve01', nics: [{ key: 'net1', value: 'virtio,bridge=vmbr9' }] });
  });

  it('a VM update sends its changed interfaces; a deleted interface warns and keeps its slot', () => {
    const [p] = planChanges([diff('update', 812, { original: vm(), modified: vm({ memory: 4096 }) })], [], [
      nicDiff('delete', 4, null, ifData({ name: 'eth0' })),
      nicDiff('update', 5, ifData({ name: 'eth1', mtu: 1400 }), ifData({ name: 'eth1' })),
    ], { ...lookups, interfaceNames: new Map([[812, ['eth1']]]) }, opts);
    expect(p!.payload).toEqual({ vmid: 312, node: 'pve01', memory_mib: 4096, nics: [{ key: 'net1', value: 'virtio,bridge=vmbr0,mtu=1400' }] });
    expect(p!.findings.map((f) => `${f.severity}:${f.reason}`)).toEqual(['warning:nic_removal_unsupported']);
  });

  it('interfaces of a VM NetBox does not have block that VM; children of a deleted VM are ignored', () => {
    const [p] = planChanges([], [], [nicDiff('create', 6, ifData({ virtual_machine: 999 }))], lookups, opts);
    expect(p!.findings[0]!.reason).toBe('interface_vm_unknown');
    const planned = planChanges([diff('delete', 812, { original: vm() })], [], [nicDiff('delete', 7, null, ifData())], lookups, opts);
    expect(planned.map((x) => x.op)).toEqual(['delete']);
  });

  it('plannedNics: a create has no existing names and never warns about deletes', () => {
    const out = plannedNics([nicDiff('create', 8, ifData({ name: 'net3' }))], [], { ...lxc, endpointBridge: 'vmbr0' }, lookups, true);
    expect(out).toEqual({ items: [{ key: 'net3', value: 'name=net3,bridge=vmbr0,ip=dhcp' }], blocked: [], warnings: [] });
  });
});
