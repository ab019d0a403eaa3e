/** The two kinds of Proxmox guest: a QEMU virtual machine or an LXC container. */
export const GUEST_KINDS = ['qemu', 'lxc'] as const;
export type GuestKind = (typeof GUEST_KINDS)[number];

export interface NamedRef { slug: string; name: string }

export interface KindEvidence {
  proxmoxVmType?: string | null;
  role?: NamedRef | null;
  virtualMachineType?: NamedRef | null;
}

const looksLikeContainer = (s: string) => /lxc|container/i.test(s);

/**
 * netbox.md §7.4: the `proxmox_vm_type` custom field, then the role, then the VM type (NetBox 4.6), else qemu.
 * `explicit` is false when nothing said which kind it is, so a create can warn about the guess.
 */
export function detectGuestKind(e: KindEvidence): { kind: GuestKind; explicit: boolean } {
  const t = e.proxmoxVmType?.trim().toLowerCase();
  if (t) {
    if (looksLikeContainer(t)) return { kind: 'lxc', explicit: true };
    if (t === 'qemu' || t === 'vm') return { kind: 'qemu', explicit: true };
  }
  for (const ref of [e.role, e.virtualMachineType]) {
    if (ref && (looksLikeContainer(ref.slug) || looksLikeContainer(ref.name))) return { kind: 'lxc', explicit: true };
  }
  return { kind: 'qemu', explicit: Boolean(t === 'qemu' || t === 'vm') };
}
