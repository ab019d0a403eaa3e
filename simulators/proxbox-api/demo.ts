import type { FakeProxmox } from './fake-proxmox';

export const DEMO_TEMPLATE = 'local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst';

/** A writable endpoint (id 1) whose nodes each have `local-lvm` for images and root filesystems: benchmarks and chaos runs. */
export function seedWritableCluster(cluster: FakeProxmox, name: string, nodes: readonly string[]): void {
  cluster.addEndpoint({ id: 1, name, cluster: `${name}-cluster`, enabled: true, allow_writes: true });
  for (const node of nodes) {
    cluster.addNode({ endpointId: 1, name: node });
    cluster.addStorage({ endpointId: 1, node, storage: 'local-lvm', content: ['images', 'rootdir'] });
  }
}

/**
 * One writable endpoint `lab` (id 1) serving `lab-cluster`: nodes pve01 and pve02, each with
 * `local-lvm` (images,rootdir) and `local` (iso,vztmpl with the Debian 12 template), and a few guests.
 */
export function seedDemoCluster(cluster: FakeProxmox): void {
  cluster.addEndpoint({ id: 1, name: 'lab', cluster: 'lab-cluster', enabled: true, allow_writes: true, domain: 'pve.lab.example' });
  for (const node of ['pve01', 'pve02']) {
    cluster.addNode({ endpointId: 1, name: node });
    cluster.addStorage({ endpointId: 1, node, storage: 'local-lvm', plugintype: 'lvmthin', content: ['images', 'rootdir'] });
    cluster.addStorage({
      endpointId: 1, node, storage: 'local', plugintype: 'dir', content: ['iso', 'vztmpl'],
      volumes: [DEMO_TEMPLATE, 'local:iso/ubuntu-24.04.iso'],
    });
  }
  cluster.addGuest({
    endpointId: 1, vmid: 105, node: 'pve01', type: 'qemu', name: 'db-01', status: 'stopped', cores: 2, memory: 4096,
    tags: 'prod', config: { scsi0: 'local-lvm:vm-105-disk-0,size=32G', net0: 'virtio=BC:24:11:00:01:05,bridge=vmbr0' },
  });
  cluster.addGuest({
    endpointId: 1, vmid: 110, node: 'pve02', type: 'qemu', name: 'web-01', status: 'running', cores: 2, memory: 2048,
    tags: 'prod;web', config: { scsi0: 'local-lvm:vm-110-disk-0,size=32G', net0: 'virtio=BC:24:11:00:01:10,bridge=vmbr0' },
  });
  cluster.addGuest({
    endpointId: 1, vmid: 190, node: 'pve02', type: 'lxc', name: 'old-app-02', status: 'stopped', cores: 1, memory: 512,
    config: { rootfs: 'local-lvm:vm-190-disk-0,size=8G', net0: 'name=eth0,bridge=vmbr0,ip=dhcp', arch: 'amd64', ostype: 'debian' },
  });
}
