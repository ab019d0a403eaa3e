import type { ConfigValue, GuestType } from './fake-proxmox';

const QEMU_DISK_KEY = /^(scsi|virtio|ide|sata|efidisk|tpmstate)\d+$/;
const LXC_DISK_KEY = /^(rootfs|mp\d+)$/;
const ALLOCATION = /^([A-Za-z0-9][A-Za-z0-9._-]*):(\d+(?:\.\d+)?)$/;

export const isAllocation = (value: string) => ALLOCATION.test(value.split(',')[0] ?? '');

export const isDiskKey = (type: GuestType, key: string) => (type === 'qemu' ? QEMU_DISK_KEY : LXC_DISK_KEY).test(key);

/** The storage a disk value lives on, e.g. `local-lvm` for `local-lvm:32,ssd=1` or `local-lvm:vm-101-disk-0`. */
export function storageOf(value: string): string | null {
  const first = value.split(',')[0] ?? '';
  const m = /^([A-Za-z0-9][A-Za-z0-9._-]*):/.exec(first);
  return m ? m[1]! : null;
}

/**
 * Proxmox allocates a new volume for `<storage>:<size in GiB>` and stores the normalised form,
 * `<storage>:vm-<vmid>-disk-<n>,<options>,size=<size>G`. That is why a re-sent disk spec never
 * compares equal (proxbox-api.md §5.5). Other values (an existing volume, `local:iso/...,media=cdrom`) are kept.
 */
export function allocateDisk(value: string, vmid: number, existing: ConfigValue[]): string {
  const [first = '', ...options] = value.split(',');
  const m = ALLOCATION.exec(first);
  if (!m) return value;
  const used = existing
    .map((v) => new RegExp(`vm-${vmid}-disk-(\\d+)`).exec(String(v))?.[1])
    .filter((n): n is string => n !== undefined)
    .map(Number);
  const index = used.length ? Math.max(...used) + 1 : 0;
  return [`${m[1]}:vm-${vmid}-disk-${index}`, ...options, `size=${m[2]}G`].join(',');
}

/** Size in bytes from a normalised disk value's `size=` option. */
export function diskBytes(value: string): number {
  const m = /(?:^|,)size=(\d+(?:\.\d+)?)([KMGT]?)/.exec(value);
  if (!m) return 0;
  const unit = { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3, T: 1024 ** 4 }[m[2] as '' | 'K' | 'M' | 'G' | 'T'];
  return Math.round(Number(m[1]) * unit);
}
