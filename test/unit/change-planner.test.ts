import { describe, expect, it } from 'vitest';
import { coresOf, parseCloudInitNetwork, planChanges, referencedLookups, type Finding } from '../../domain/change-planner';
import { diff, noLookups, vm } from '../support/change-diffs';

const opts = { warnPlaintextPassword: true };
const reasons = (f: Finding[]) => f.map((x) => `${x.severity}:${x.reason}`);

describe('planChanges: ChangeDiffs as they really are', () => {
  it('builds a qemu create payload in proxbox-api schema, with disks from VirtualDisk rows and cloud-init', () => {
    const [p] = planChanges([diff('create', 812, { modified: vm({}, {
      cloud_init_user: 'ubuntu', cloud_init_ssh_keys: ' ssh-ed25519 AAA a@b \n\n ssh-rsa BBB c@d ', cloud_init_user_data: 'user=local:snippets/web-03.yaml',
      cloud_init_network: 'ip=192.0.2.5/24,gw=192.0.2.1', proxmox_iso: 'local:iso/u.iso',
    }) })], [diff('create', 1, { modified: { virtual_machine: 812, name: 'data', size: 2049 } }, 'virtualization.virtualdisk'),
      diff('create', 2, { modified: { virtual_machine: 812, name: 'scsi0', size: 32768 } }, 'virtualization.virtualdisk')], [], noLookups, opts);
    expect(p!.findings).toEqual([]);
    expect(p!.payload).toEqual({
      vmid: 312, node: 'pve01', name: 'web-03', cores: 2, memory_mib: 2048, tags: ['prod', 'web'],
      disks: [{ key: 'scsi1', value: 'local-lvm:3' }, { key: 'scsi0', value: 'local-lvm:32' }, { key: 'ide2', value: 'local:iso/u.iso,media=cdrom' }],
      cloud_init: { user: 'ubuntu', ssh_keys: ['ssh-ed25519 AAA a@b', 'ssh-rsa BBB c@d'], user_data: 'user=local:snippets/web-03.yaml', network: { ipconfig0: 'ip=192.0.2.5/24,gw=192.0.2.1' } },
    });
  });

  it('builds an LXC create with hostname, ostemplate, storage and a rootfs disk', () => {
    const [p] = planChanges([diff('create', 813, { modified: vm({ name: 'cache-01', tags: ['Cache'] }, { proxmox_vm_type: 'lxc', proxmox_vm_id: 320, proxmox_ostemplate: 'local:vztmpl/d.tar.zst' }) })],
      [diff('create', 3, { modified: { virtual_machine: 813, name: 'root', size: 8192 } }, 'virtualization.virtualdisk')], [], noLookups, opts);
    expect(p!.kind).toBe('lxc');
    expect(p!.payload).toEqual({ vmid: 320, node: 'pve01', hostname: 'cache-01', cores: 2, memory_mib: 2048, tags: ['cache'], storage: 'local-lvm', ostemplate: 'local:vztmpl/d.tar.zst', disks: [{ key: 'rootfs', value: 'local-lvm:8' }] });
  });

  it('sends only the changed fields of an update and skips a no-op update', () => {
    const before = vm({ vcpus: '2.00', memory: 4096 });
    const [changed] = planChanges([diff('update', 805, { original: before, modified: vm({ vcpus: '4.00', memory: 8192 }) })], [], [], noLookups, opts);
    expect(changed!.payload).toEqual({ vmid: 312, node: 'pve01', cores: 4, memory_mib: 8192 });
    expect(changed!.noop).toBe(false);
    const [same] = planChanges([diff('update', 805, { original: before, modified: vm({ vcpus: '2.00', memory: 4096, description: 'only NetBox text changed' }) })], [], [], noLookups, opts);
    expect(same!.noop).toBe(true);
    expect(same!.payload).toBeNull();
  });

  it('takes a delete target from the pre-merge data and blocks when current_data disagrees', () => {
    const old = vm({ name: 'old-app-02', vcpus: '1.00', memory: 1024, tags: ['legacy'] }, { proxmox_vm_id: 190, proxmox_vm_type: 'lxc', proxmox_node: 'pve02' });
    const [p] = planChanges([diff('delete', 790, { original: old, current: old })], [diff('delete', 4, { original: { virtual_machine: 790, name: 'rootfs', size: 8192 } }, 'virtualization.virtualdisk')], [], noLookups, opts);
    expect(p!.deletion).toMatchObject({ vmid: 190, node: 'pve02', kind: 'lxc', name: 'old-app-02', memoryMib: 1024, disks: [{ name: 'rootfs', sizeMb: 8192 }], tags: ['legacy'] });
    expect(p!.findings).toEqual([]);
    const moved = { ...old, custom_fields: { ...old.custom_fields, proxmox_node: 'pve03' } };
    const [q] = planChanges([diff('delete', 790, { original: old, current: moved })], [], [], noLookups, opts);
    expect(reasons(q!.findings)).toEqual(['blocked:delete_target_disagrees']);
  });

  it('keeps in a deletion snapshot only the custom fields that identify or re-create the guest, never cloud-init or unknown ones', () => {
    const secrets = {
      cloud_init_user: 'ubuntu', cloud_init_ssh_keys: 'ssh-ed25519 AAAA ops@example', cloud_init_network: 'ip=192.0.2.9/24,gw=192.0.2.1',
      cloud_init_user_data: '#cloud-config\nchpasswd:\n  list: root:Hunter2-secret', cloud_init_password: 'Hunter2-secret',
      proxbox_intent_state: 'applied', proxbox_last_apply_run_id: 'run-1',
    };
    const old = vm({ name: 'db-07' }, { proxmox_vm_id: 207, proxmox_node: 'pve02', proxmox_storage: 'local-lvm', proxmox_iso: null, ...secrets });
    const [p] = planChanges([diff('delete', 791, { original: old, current: old })], [], [], noLookups, opts);
    expect(p!.deletion!.customFields).toEqual({ proxmox_vm_id: 207, proxmox_vm_type: 'qemu', proxmox_node: 'pve02', proxmox_storage: 'local-lvm' });
    const serialised = JSON.stringify(p);
    for (const value of ['Hunter2-secret', 'ssh-ed25519', '192.0.2.9', 'cloud_init', 'run-1']) expect(serialised).not.toContain(value);
  });

  it('skips a VM created and deleted inside the branch', () => {
    const [p] = planChanges([diff('create', 900, { modified: null })], [], [], noLookups, opts);
    expect(p!.vanished).toBe(true);
  });

  it('blocks what proxbox-api would reject or mishandle', () => {
    const [p] = planChanges([diff('create', 1, { modified: vm({ name: 'bad_name', vcpus: '1.50', tags: ['ok', 'no space'] }, {
      proxmox_vm_id: null, cloud_init_user_data: '#cloud-config\npassword: hunter2', cloud_init_network: 'dhcp please', proxmox_template_vmid: 9000,
    }) })], [], [], noLookups, opts);
    expect(reasons(p!.findings).sort()).toEqual([
      'blocked:cloud_init_network_invalid', 'blocked:cloud_init_user_data_not_snippet', 'blocked:fractional_vcpus', 'blocked:invalid_name',
      'blocked:invalid_tag', 'blocked:template_clone_unsupported', 'blocked:vmid_missing', 'warning:plaintext_password',
    ]);
  });

  it('flags duplicate VMIDs inside one branch on both VMs', () => {
    const planned = planChanges([diff('create', 1, { modified: vm({ name: 'a' }) }), diff('create', 2, { modified: vm({ name: 'b' }) })], [], [], noLookups, opts);
    expect(planned.map((p) => reasons(p.findings))).toEqual([['blocked:duplicate_vmid'], ['blocked:duplicate_vmid']]);
  });

  it('uses the role to detect LXC and lists the lookups it needs', () => {
    const d = diff('create', 7, { modified: vm({ role: 12 }, { proxmox_vm_type: null, proxmox_ostemplate: 'local:vztmpl/x' }) });
    expect(referencedLookups([d])).toEqual({ roleIds: [12], vmTypeIds: [] });
    const [p] = planChanges([d], [], [], { roles: new Map([[12, { slug: 'container-lxc', name: 'Container' }]]), vmTypes: new Map() }, opts);
    expect(p!.kind).toBe('lxc');
  });
});

describe('unit rules', () => {
  it('maps whole vCPUs and refuses fractions without rounding', () => {
    const f: Finding[] = [];
    expect(coresOf('4.00', f)).toBe(4);
    expect(coresOf('1.50', f)).toBeNull();
    expect(f).toHaveLength(1);
  });
  it('parses cloud-init network JSON or ip= text and nothing else', () => {
    expect(parseCloudInitNetwork('{"ip": "192.0.2.53", "cidr": 24}')).toEqual({ ip: '192.0.2.53', cidr: 24 });
    expect(parseCloudInitNetwork('ip=dhcp')).toEqual({ ipconfig0: 'ip=dhcp' });
    expect(parseCloudInitNetwork('{"foo": 1}')).toBeNull();
    expect(parseCloudInitNetwork('dhcp')).toBeNull();
  });
});
