/**
 * The NetBox custom fields proxbox-intent reads and stamps (netbox.md §7.2, §7.3): one row per field, the single
 * source for `npm run cli -- netbox prepare`, the NetBox simulator's seed and the field table in
 * contrib/netbox/README.md (checked by test/unit/intent-custom-fields.test.ts). A new field is one new row.
 */

/** The NetBox custom field types we create (NetBox's `CustomFieldTypeChoices` values). */
export type CustomFieldKind = 'boolean' | 'integer' | 'text' | 'longtext';

/** NetBox's `ui_visible` / `ui_editable` choices. */
export type UiVisible = 'always' | 'if-set' | 'hidden';
export type UiEditable = 'yes' | 'no' | 'hidden';

export const BRANCH_OBJECT_TYPE = 'netbox_branching.branch';
export const VM_OBJECT_TYPE = 'virtualization.virtualmachine';
export const VM_INTERFACE_OBJECT_TYPE = 'virtualization.vminterface';

export interface IntentCustomField {
  name: string;
  objectTypes: readonly string[];
  type: CustomFieldKind;
  /** Other types an existing field may have and still work (reported, not a problem). */
  alsoWorks?: readonly string[];
  label: string;
  /** NetBox's description, shown as the field's help text. */
  description: string;
  /** What the service does with it, for the README. */
  mapsTo: string;
  /** Stamps the service writes: hidden in NetBox's UI. */
  hidden?: boolean;
}

const TEXT_LIKE = ['text', 'longtext'] as const;

export const INTENT_CUSTOM_FIELDS: readonly IntentCustomField[] = [
  {
    name: 'apply_to_proxmox', objectTypes: [BRANCH_OBJECT_TYPE], type: 'boolean', label: 'Apply to Proxmox',
    description: 'Opt-in: when true, merging this branch applies its VM changes to Proxmox through proxbox-intent.',
    mapsTo: 'the branch opt-in; only `true` counts, anything else keeps the merge NetBox-only',
  },
  {
    name: 'apply_destroy_confirmed', objectTypes: [BRANCH_OBJECT_TYPE], type: 'boolean', label: 'Destroy confirmed',
    description: 'Must be true before a branch that deletes VMs may merge; each destroy still needs an approval.',
    mapsTo: 'the destroy confirmation; the plan blocks DELETE diffs without it',
  },
  {
    name: 'proxmox_vm_id', objectTypes: [VM_OBJECT_TYPE], type: 'integer', label: 'Proxmox VMID',
    description: 'Proxmox VMID of this guest; required for every Proxmox change.',
    mapsTo: '`vmid` of every create, update and delete',
  },
  {
    name: 'proxmox_vm_type', objectTypes: [VM_OBJECT_TYPE], type: 'text', alsoWorks: ['longtext', 'select'], label: 'Proxmox guest type',
    description: 'qemu (or vm) for a virtual machine, lxc for a container.',
    mapsTo: 'the guest kind, qemu or lxc (netbox.md §7.4), before the role and VM type',
  },
  {
    name: 'proxmox_node', objectTypes: [VM_OBJECT_TYPE], type: 'text', alsoWorks: TEXT_LIKE, label: 'Proxmox node',
    description: 'Proxmox node that hosts this guest.', mapsTo: '`node`',
  },
  {
    name: 'proxmox_storage', objectTypes: [VM_OBJECT_TYPE], type: 'text', alsoWorks: TEXT_LIKE, label: 'Proxmox storage',
    description: 'Storage for new disks (qemu) or the root filesystem (lxc).',
    mapsTo: 'the storage of disk specs (qemu), `storage` (lxc)',
  },
  {
    name: 'proxmox_iso', objectTypes: [VM_OBJECT_TYPE], type: 'text', alsoWorks: TEXT_LIKE, label: 'Proxmox ISO',
    description: 'Volume id of an ISO image to attach as CD-ROM, e.g. local:iso/debian-12.iso.',
    mapsTo: 'the qemu CD-ROM; the LXC template when `proxmox_ostemplate` is empty',
  },
  {
    name: 'proxmox_template_vmid', objectTypes: [VM_OBJECT_TYPE], type: 'integer', label: 'Proxmox template VMID',
    description: 'VMID to clone from. Not supported by proxbox-api yet: the plan blocks a VM that sets it.',
    mapsTo: 'clone source; blocked by the plan (proxbox-api answers `not_implemented`)',
  },
  {
    name: 'proxmox_ostemplate', objectTypes: [VM_OBJECT_TYPE], type: 'text', alsoWorks: TEXT_LIKE, label: 'Proxmox OS template',
    description: 'LXC template volume, e.g. local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst.',
    mapsTo: '`ostemplate` (lxc)',
  },
  {
    name: 'proxmox_swap', objectTypes: [VM_OBJECT_TYPE], type: 'integer', label: 'Proxmox swap (MiB)',
    description: 'Swap in MiB. proxbox-api has no field for it: the plan warns that it is ignored.',
    mapsTo: 'nothing (no proxbox-api field); the plan warns',
  },
  {
    name: 'proxmox_rootfs', objectTypes: [VM_OBJECT_TYPE], type: 'text', alsoWorks: TEXT_LIKE, label: 'Proxmox root filesystem',
    description: 'LXC root filesystem, <storage>:<GiB> or a full Proxmox disk spec.',
    mapsTo: 'the LXC `rootfs` disk item',
  },
  {
    name: 'cloud_init_user', objectTypes: [VM_OBJECT_TYPE], type: 'text', alsoWorks: TEXT_LIKE, label: 'Cloud-init user',
    description: 'Default user created by cloud-init (qemu only).', mapsTo: '`cloud_init.user` (qemu)',
  },
  {
    name: 'cloud_init_ssh_keys', objectTypes: [VM_OBJECT_TYPE], type: 'longtext', alsoWorks: TEXT_LIKE, label: 'Cloud-init SSH keys',
    description: 'Public SSH keys, one per line (qemu only).', mapsTo: '`cloud_init.ssh_keys`, one key per non-blank line (qemu)',
  },
  {
    name: 'cloud_init_user_data', objectTypes: [VM_OBJECT_TYPE], type: 'longtext', alsoWorks: TEXT_LIKE, label: 'Cloud-init user data',
    description: 'A snippet reference, user=<storage>:snippets/<file>; never put passwords here.',
    mapsTo: '`cloud_init.user_data` (a snippet reference; a `password:` line warns)',
  },
  {
    name: 'cloud_init_network', objectTypes: [VM_OBJECT_TYPE], type: 'longtext', alsoWorks: TEXT_LIKE, label: 'Cloud-init network',
    description: 'JSON ({"ip", "cidr", "gw"} or {"ipconfig0": "..."}) or Proxmox ip=...,gw=... text.',
    mapsTo: '`cloud_init.network` (JSON object, or `ip=…,gw=…` as `ipconfig0`); anything else blocks',
  },
  {
    name: 'proxmox_bridge', objectTypes: [VM_OBJECT_TYPE, VM_INTERFACE_OBJECT_TYPE], type: 'text', alsoWorks: TEXT_LIKE, label: 'Proxmox bridge',
    description: 'Proxmox bridge of a NIC, e.g. vmbr0; on an interface it wins over the VM\'s, and both over the endpoint\'s default.',
    mapsTo: '`bridge=` of the NIC (netbox.md §7.7); without it anywhere the interface blocks its VM',
  },
  {
    name: 'proxmox_nic_model', objectTypes: [VM_INTERFACE_OBJECT_TYPE], type: 'text', alsoWorks: TEXT_LIKE, label: 'Proxmox NIC model',
    description: 'NIC model of a qemu interface (virtio, e1000, vmxnet3, … as Proxmox names them); empty means virtio.',
    mapsTo: 'the qemu NIC model (default `virtio`); an LXC interface must leave it empty',
  },
  {
    name: 'proxbox_intent_state', objectTypes: [VM_OBJECT_TYPE], type: 'text', alsoWorks: TEXT_LIKE, label: 'proxbox-intent state',
    description: 'Written by proxbox-intent: outcome of the last apply.', hidden: true,
    mapsTo: 'stamp written after an apply when the field exists (`applied` or `failed`, netbox.md §7.6)',
  },
  {
    name: 'proxbox_last_apply_run_id', objectTypes: [VM_OBJECT_TYPE], type: 'text', alsoWorks: TEXT_LIKE, label: 'proxbox-intent last run',
    description: 'Written by proxbox-intent: id of the last apply run.', hidden: true,
    mapsTo: 'stamp written after an apply (the run id)',
  },
  {
    name: 'proxmox_endpoint_id', objectTypes: [VM_OBJECT_TYPE], type: 'integer', label: 'proxbox-api endpoint id',
    description: 'Hint only: proxbox-api endpoint id of this guest; the cluster mapping in proxbox-intent wins.',
    mapsTo: 'not used to route (the VM\'s cluster picks the endpoint in our settings); kept in a deletion request\'s snapshot',
  },
];

/** The body of `POST /api/extras/custom-fields/` for one row, as NetBox 4.x takes it. */
export function customFieldCreateBody(field: IntentCustomField): Record<string, unknown> {
  return {
    name: field.name, object_types: [...field.objectTypes], type: field.type, label: field.label, description: field.description,
    required: false,
    ...(field.hidden ? { ui_visible: 'hidden', ui_editable: 'hidden' } : { ui_visible: 'always', ui_editable: 'yes' }),
  };
}

/** An existing NetBox custom field, as much of it as the comparison needs. */
export interface ExistingCustomField { name: string; type: string; objectTypes: readonly string[]; uiEditable?: string }

export type CustomFieldPlanItem =
  | { field: IntentCustomField; action: 'create' }
  | { field: IntentCustomField; action: 'present'; notes: string[] }
  /** Exists, but the service cannot use it as it is: left alone, for a person to fix. */
  | { field: IntentCustomField; action: 'differs'; problems: string[] };

/**
 * What `netbox prepare` does for each row: create what is missing; never change an existing field. A field of another
 * type or without one of our object types is reported; a type that still works (text for long text) is only noted.
 */
export function planCustomFields(table: readonly IntentCustomField[], existing: readonly ExistingCustomField[]): CustomFieldPlanItem[] {
  const byName = new Map(existing.map((cf) => [cf.name, cf]));
  return table.map((field) => {
    const found = byName.get(field.name);
    if (!found) return { field, action: 'create' };
    const problems: string[] = [];
    const notes: string[] = [];
    if (found.type !== field.type) {
      if (field.alsoWorks?.includes(found.type)) notes.push(`type is ${found.type} (expected ${field.type}; it works)`);
      else problems.push(`type is ${found.type}, expected ${field.type}`);
    }
    // proxbox's reflection registers proxmox_vm_id hidden and not editable (netbox.md §7.2): readable, but people
    // cannot set it in NetBox's UI.
    if (!field.hidden && found.uiEditable !== undefined && found.uiEditable !== 'yes') {
      notes.push(`not editable in NetBox's UI (ui_editable ${found.uiEditable}); set it to Yes so people can fill it in`);
    }
    const missing = field.objectTypes.filter((t) => !found.objectTypes.includes(t));
    if (missing.length) problems.push(`not assigned to ${missing.join(', ')} (assigned to ${found.objectTypes.join(', ') || 'nothing'})`);
    return problems.length ? { field, action: 'differs', problems } : { field, action: 'present', notes };
  });
}

/** The README's field table (contrib/netbox/README.md), generated from the rows. */
export function customFieldsMarkdownTable(table: readonly IntentCustomField[] = INTENT_CUSTOM_FIELDS): string {
  const TYPE_LABELS: Record<CustomFieldKind, string> = { boolean: 'Boolean', integer: 'Integer', text: 'Text', longtext: 'Text (long)' };
  const rows = table.map((f) => {
    const type = TYPE_LABELS[f.type] + (f.hidden ? ', hidden' : '');
    return `| \`${f.name}\` | ${f.objectTypes.map((t) => `\`${t}\``).join(', ')} | ${type} | ${f.label} | ${f.mapsTo} |`;
  });
  return ['| Custom field | Object types | Type | Label | What proxbox-intent does with it |', '|---|---|---|---|---|', ...rows].join('\n');
}
