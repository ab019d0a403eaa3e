import { describe, expect, it } from 'vitest';
import { diskGib, driftOf, ipconfigOf, tagSet } from '../../domain/drift';

describe('post-apply drift', () => {
  const desired = {
    vmid: 312, node: 'pve01', name: 'web-03', cores: 2, memory_mib: 2048, tags: ['Prod', 'web'],
    disks: [{ key: 'scsi0', value: 'local-lvm:32' }, { key: 'ide2', value: 'local:iso/x.iso,media=cdrom' }],
    cloud_init: { user: 'ubuntu', network: { ip: '192.0.2.53', cidr: 24, gw: '192.0.2.1' } },
  };
  const converged = {
    name: 'web-03', cores: 2, memory: 2048, tags: 'proxbox-pending-deletion;prod;web', scsi0: 'local-lvm:vm-312-disk-0,size=32G',
    ciuser: 'ubuntu', ipconfig0: 'ip=192.0.2.53/24,gw=192.0.2.1',
  };

  it('is empty when Proxmox holds what was asked for (our pending-deletion tag is not drift)', () => {
    expect(driftOf('qemu', desired, converged)).toEqual([]);
  });

  it('names every field that differs, with desired and actual values', () => {
    expect(driftOf('qemu', desired, { ...converged, cores: 4, tags: 'prod', scsi0: 'local-lvm:vm-312-disk-0,size=30G', ipconfig0: undefined })).toEqual([
      { field: 'cores', desired: '2', actual: '4' },
      { field: 'tags', desired: 'prod;web', actual: 'prod' },
      { field: 'scsi0.size', desired: '32G', actual: '30G' },
      { field: 'ipconfig0', desired: 'ip=192.0.2.53/24,gw=192.0.2.1', actual: null },
    ]);
  });

  it('compares only the fields an update carried, hostname for LXC', () => {
    expect(driftOf('lxc', { vmid: 320, node: 'pve02', hostname: 'cache-01' }, { hostname: 'cache-02', cores: 9 })).toEqual([
      { field: 'hostname', desired: 'cache-01', actual: 'cache-02' },
    ]);
  });

  it('parses disk sizes, tags and ipconfig the way proxbox-api writes them', () => {
    expect(diskGib('local-lvm:vm-1-disk-0,size=512M')).toBe(0.5);
    expect(diskGib('local-lvm:8')).toBe(8);
    expect(diskGib('garbage')).toBeNull();
    expect(tagSet(' B;a;;b ')).toEqual(['a', 'b']);
    expect(ipconfigOf({ ipconfig0: 'ip=dhcp' })).toBe('ip=dhcp');
    expect(ipconfigOf({ ip: '10.0.0.5/8', cidr: 24 })).toBe('ip=10.0.0.5/8');
    expect(ipconfigOf({ ip: 'dhcp', cidr: 24 })).toBe('ip=dhcp');
  });
});
