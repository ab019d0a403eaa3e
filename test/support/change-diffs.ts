import type { ChangeDiff } from '../../contracts/netbox';

/** ChangeDiff rows in their real REST shape, for unit tests of the planning code. */
let nextId = 900;
export function diff(action: 'create' | 'update' | 'delete', objectId: number, data: { original?: object | null; modified?: object | null; current?: object | null }, objectType = 'virtualization.virtualmachine'): ChangeDiff {
  return {
    id: ++nextId, url: '', display: '', object_type: objectType, object_id: objectId, object: null, object_repr: 'x',
    branch: { id: 42, url: '', display: 'b', name: 'b', status: { value: 'merged', label: 'Merged' }, description: '' },
    action: { value: action, label: action }, conflicts: null, diff: { original: {}, modified: {}, current: {} },
    original_data: (data.original ?? null) as ChangeDiff['original_data'], modified_data: (data.modified ?? null) as ChangeDiff['modified_data'],
    current_data: (data.current ?? null) as ChangeDiff['current_data'], last_updated: '2026-07-24T13:58:40.221873Z',
  };
}

/** VirtualMachine change data (web-03 of the demo unless overridden). */
export const vm = (over: Record<string, unknown> = {}, cf: Record<string, unknown> = {}) => ({
  name: 'web-03', cluster: 5, role: null, vcpus: '2.00', memory: 2048, disk: null, tags: ['prod', 'web'],
  custom_fields: { proxmox_vm_id: 312, proxmox_vm_type: 'qemu', proxmox_node: 'pve01', proxmox_storage: 'local-lvm', ...cf }, ...over,
});

export const noLookups = { roles: new Map(), vmTypes: new Map() };
