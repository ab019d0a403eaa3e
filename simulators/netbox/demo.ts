/**
 * Demo state matching the proxbox simulator's demo cluster, and the demonstration branch of netbox.md §9.2.
 * Primary keys follow the document's examples (cluster 5, db-01 805, old-app-02 790, web-03 812, branch 42).
 */
import type { BranchRecord, NetboxModel, StoredObject } from './model';

export const DEMO = {
  clusterId: 5,
  clusterName: 'lab-cluster',
  users: { bob: 4, alice: 7 },
  roles: { qemu: 11, lxc: 12 },
  vmTypes: { qemu: 1, lxc: 2 },
  vms: { db01: 805, oldApp02: 790 },
  branchName: 'add-web-vms',
  /** web-03's NIC: its primary MAC address and untagged VLAN (main). */
  web03Mac: 'BC:24:11:31:20:01',
  serversVlan: { id: 20, vid: 120, name: 'servers' },
  macId: 31,
  lxcTemplate: 'local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst',
} as const;

/** Adds the demo's main state to a model that does not hold it yet. */
export function seedDemo(model: NetboxModel): void {
  model.addUser({ id: DEMO.users.bob, username: 'bob' });
  model.addUser({ id: DEMO.users.alice, username: 'alice' });
  model.addRef('site', { id: 3, name: 'lab' });
  model.addRef('tenant', { id: 2, name: 'platform-team' });
  model.addRef('platform', { id: 9, name: 'Ubuntu 24.04', slug: 'ubuntu-24-04' });
  model.addRef('platform', { id: 14, name: 'Debian 12', slug: 'debian-12' });
  model.addRef('ipaddress', { id: 4410, name: '192.0.2.10/24' });
  model.addCluster({ id: DEMO.clusterId, name: DEMO.clusterName });
  model.addDeviceRole({ id: DEMO.roles.qemu, name: 'Virtual Machine (QEMU)', slug: 'virtual-machine-qemu', color: '00bcd4' });
  model.addDeviceRole({ id: DEMO.roles.lxc, name: 'Container (LXC)', slug: 'container-lxc', color: 'ff9800' });
  model.addVmType({ id: DEMO.vmTypes.qemu, name: 'QEMU virtual machine', slug: 'qemu-vm' });
  model.addVmType({ id: DEMO.vmTypes.lxc, name: 'LXC container', slug: 'lxc-container' });

  model.addMainVm({
    id: DEMO.vms.db01, name: 'db-01', site: 3, cluster: DEMO.clusterId, tenant: 2, platform: 9, role: DEMO.roles.qemu,
    start_on_boot: 'on', primary_ip4: 4410, vcpus: '2.00', memory: 4096, description: 'primary database',
    custom_fields: { proxmox_vm_id: 105, proxmox_vm_type: 'qemu', proxmox_node: 'pve01', proxmox_storage: 'local-lvm' },
    tags: ['db', 'prod'],
  });
  model.addMainVirtualDisk({ virtual_machine: DEMO.vms.db01, name: 'scsi0', size: 65536 });
  model.addMainInterface({ virtual_machine: DEMO.vms.db01, name: 'eth0' });

  model.addMainVm({
    id: DEMO.vms.oldApp02, name: 'old-app-02', site: 3, cluster: DEMO.clusterId, platform: 14, role: DEMO.roles.lxc,
    vcpus: '1.00', memory: 1024,
    custom_fields: { proxmox_vm_id: 190, proxmox_vm_type: 'lxc', proxmox_node: 'pve02', proxmox_storage: 'local-lvm' },
    tags: ['legacy'],
  });
  model.addMainVirtualDisk({ virtual_machine: DEMO.vms.oldApp02, name: 'rootfs', size: 8192 });
  model.addMainInterface({ virtual_machine: DEMO.vms.oldApp02, name: 'eth0' });

  model.addVlan({ id: DEMO.serversVlan.id, vid: DEMO.serversVlan.vid, name: DEMO.serversVlan.name });
  model.addMacAddress({ id: DEMO.macId, mac_address: DEMO.web03Mac });

  model.bumpSequence('vm', 811);
  model.bumpSequence('changediff', 900);
  model.bumpSequence('branch', 41);
}

export interface DemoBranch { branch: BranchRecord; web03: StoredObject; cache01: StoredObject }

/**
 * The netbox.md §9.2 branch: create web-03 (qemu, vmid 312, pve01, cloud-init, 32 GiB disk), resize db-01 to 4 vCPUs and
 * 8192 MB, create the LXC cache-01 (vmid 320, pve02), delete old-app-02; last, web-03 gets its NIC eth0 (bridge vmbr0 from
 * its proxmox_bridge custom field, the demo MAC address, VLAN 120). Opted in with destroy confirmed. Needs seedDemo.
 */
export function buildDemoBranch(model: NetboxModel, opts: { name?: string; owner?: string } = {}): DemoBranch {
  const branch = model.createBranch({
    name: opts.name ?? DEMO.branchName,
    owner: opts.owner ?? 'bob',
    description: 'Add web-03, resize db-01, retire old-app-02',
    customFields: { apply_to_proxmox: true, apply_destroy_confirmed: true },
  });
  const web03 = model.createVm(branch.id, {
    name: 'web-03', site: 3, cluster: DEMO.clusterId, platform: 9, role: DEMO.roles.qemu, vcpus: '2.00', memory: 2048,
    custom_fields: {
      proxmox_vm_id: 312, proxmox_vm_type: 'qemu', proxmox_node: 'pve01', proxmox_storage: 'local-lvm',
      cloud_init_user: 'ubuntu',
      cloud_init_ssh_keys: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExampleKeyOnly ops@example.com',
      cloud_init_user_data: 'user=local:snippets/web-03.yaml',
      cloud_init_network: '{"ip": "192.0.2.53", "cidr": 24, "gw": "192.0.2.1"}',
    },
    tags: ['prod', 'web'],
  });
  model.createVirtualDisk(branch.id, { virtual_machine: web03.pk, name: 'scsi0', size: 32768 });
  model.updateVm(branch.id, DEMO.vms.db01, { vcpus: '4.00', memory: 8192 });
  const cache01 = model.createVm(branch.id, {
    name: 'cache-01', site: 3, cluster: DEMO.clusterId, platform: 14, role: DEMO.roles.lxc, vcpus: '1.00', memory: 1024,
    custom_fields: {
      proxmox_vm_id: 320, proxmox_vm_type: 'lxc', proxmox_node: 'pve02', proxmox_storage: 'local-lvm',
      proxmox_ostemplate: DEMO.lxcTemplate,
    },
    tags: ['cache'],
  });
  model.createVirtualDisk(branch.id, { virtual_machine: cache01.pk, name: 'rootfs', size: 8192 });
  model.deleteVm(branch.id, DEMO.vms.oldApp02);
  model.createInterface(branch.id, {
    virtual_machine: web03.pk, name: 'eth0', mode: 'access', untagged_vlan: DEMO.serversVlan.id, primary_mac_address: DEMO.macId,
    custom_fields: { proxmox_bridge: 'vmbr0' },
  });
  return { branch, web03: model.view(branch).get('vm', web03.pk)!, cache01: model.view(branch).get('vm', cache01.pk)! };
}
