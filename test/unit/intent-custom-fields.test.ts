import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  BRANCH_OBJECT_TYPE, INTENT_CUSTOM_FIELDS, VM_OBJECT_TYPE, customFieldCreateBody, customFieldsMarkdownTable, planCustomFields,
} from '../../domain/intent-custom-fields';

const READMES = ['README.md', 'contrib/netbox/README.md'];

describe('the intent custom fields (netbox.md §7.2, §7.3)', () => {
  it('lists every field of the contract once, on the contract\'s object type', () => {
    const names = INTENT_CUSTOM_FIELDS.map((f) => f.name);
    expect(new Set(names).size).toBe(names.length);
    const onVm = INTENT_CUSTOM_FIELDS.filter((f) => f.objectTypes.includes(VM_OBJECT_TYPE)).map((f) => f.name);
    expect(onVm).toEqual(expect.arrayContaining([
      'proxmox_vm_id', 'proxmox_vm_type', 'proxmox_node', 'proxmox_storage', 'proxmox_iso', 'proxmox_template_vmid', 'proxmox_ostemplate',
      'proxmox_swap', 'proxmox_rootfs', 'cloud_init_user', 'cloud_init_ssh_keys', 'cloud_init_user_data', 'cloud_init_network',
      'proxbox_intent_state', 'proxbox_last_apply_run_id', 'proxmox_endpoint_id',
    ]));
    expect(INTENT_CUSTOM_FIELDS.filter((f) => f.objectTypes.includes(BRANCH_OBJECT_TYPE)).map((f) => [f.name, f.type]))
      .toEqual([['apply_to_proxmox', 'boolean'], ['apply_destroy_confirmed', 'boolean']]);
    for (const f of INTENT_CUSTOM_FIELDS) {
      expect(f.name, f.name).toMatch(/^[a-z0-9_]+$/);
      expect(f.label.length, f.name).toBeLessThanOrEqual(50);
      expect(f.description.length, f.name).toBeLessThanOrEqual(200);
    }
  });

  it('builds NetBox 4.x create bodies; only the stamps are hidden', () => {
    const vmid = INTENT_CUSTOM_FIELDS.find((f) => f.name === 'proxmox_vm_id')!;
    expect(customFieldCreateBody(vmid)).toEqual({
      name: 'proxmox_vm_id', object_types: ['virtualization.virtualmachine'], type: 'integer', label: 'Proxmox VMID',
      description: vmid.description, required: false, ui_visible: 'always', ui_editable: 'yes',
    });
    const hidden = INTENT_CUSTOM_FIELDS.filter((f) => customFieldCreateBody(f).ui_visible === 'hidden').map((f) => f.name);
    expect(hidden).toEqual(['proxbox_intent_state', 'proxbox_last_apply_run_id']);
    expect(customFieldCreateBody(INTENT_CUSTOM_FIELDS.find((f) => f.name === 'proxbox_intent_state')!)).toMatchObject({ ui_editable: 'hidden' });
  });

  it('creates what is missing, leaves what exists, and reports a field the service cannot use', () => {
    const table = INTENT_CUSTOM_FIELDS.filter((f) => ['apply_to_proxmox', 'proxmox_vm_id', 'proxmox_node', 'cloud_init_ssh_keys', 'proxmox_vm_type'].includes(f.name));
    const plan = planCustomFields(table, [
      { name: 'apply_to_proxmox', type: 'boolean', objectTypes: [BRANCH_OBJECT_TYPE] },
      { name: 'proxmox_vm_id', type: 'text', objectTypes: [VM_OBJECT_TYPE, 'dcim.device'] },
      { name: 'proxmox_node', type: 'text', objectTypes: ['dcim.device'] },
      { name: 'cloud_init_ssh_keys', type: 'text', objectTypes: [VM_OBJECT_TYPE], uiEditable: 'hidden' },
      { name: 'unrelated', type: 'text', objectTypes: [VM_OBJECT_TYPE] },
    ]);
    expect(plan.map((p) => [p.field.name, p.action, p.action === 'differs' ? p.problems : p.action === 'present' ? p.notes : []])).toEqual([
      ['apply_to_proxmox', 'present', []],
      ['proxmox_vm_id', 'differs', ['type is text, expected integer']],
      ['proxmox_vm_type', 'create', []],
      ['proxmox_node', 'differs', ['not assigned to virtualization.virtualmachine (assigned to dcim.device)']],
      ['cloud_init_ssh_keys', 'present', [
        'type is text (expected longtext; it works)', "not editable in NetBox's UI (ui_editable hidden); set it to Yes so people can fill it in",
      ]],
    ]);
  });

  it('does not ask for the stamps to be editable', () => {
    const stamp = INTENT_CUSTOM_FIELDS.find((f) => f.name === 'proxbox_intent_state')!;
    expect(planCustomFields([stamp], [{ name: stamp.name, type: 'text', objectTypes: [VM_OBJECT_TYPE], uiEditable: 'hidden' }]))
      .toEqual([{ field: stamp, action: 'present', notes: [] }]);
  });

  it.each(READMES)('is the table in %s (regenerate with npm run cli -- netbox fields)', (readmePath) => {
    const readme = readFileSync(new URL(`../../${readmePath}`, import.meta.url), 'utf8');
    const start = readme.indexOf('<!-- intent-custom-fields:start -->');
    const end = readme.indexOf('<!-- intent-custom-fields:end -->');
    expect(start).toBeGreaterThan(-1);
    expect(readme.slice(start, end).split('\n').slice(1).join('\n').trim()).toBe(customFieldsMarkdownTable());
  });
});
