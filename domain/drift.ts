import type { GuestKind } from './guest-kind';
import type { CloudInitPayload, LxcIntentPayload, QemuIntentPayload } from './change-planner';
import { nicDrift } from './nics';

export interface FieldDrift { field: string; desired: string; actual: string | null }

const DISK_SIZE = /(?:^|,)size=(\d+(?:\.\d+)?)([KMGT]?)/;
const GIB: Record<string, number> = { '': 1 / 1024 ** 3, K: 1 / 1024 ** 2, M: 1 / 1024, G: 1, T: 1024 };

/** `local-lvm:vm-312-disk-0,size=32G` → 32 (GiB); a requested spec `local-lvm:32` → 32. */
export function diskGib(spec: string): number | null {
  const sized = DISK_SIZE.exec(spec);
  if (sized) return Number(sized[1]) * GIB[sized[2]!]!;
  const requested = /^[^:,]+:(\d+)(?:,|$)/.exec(spec);
  return requested ? Number(requested[1]) : null;
}

export function tagSet(tags: string | string[] | null | undefined): string[] {
  const list = Array.isArray(tags) ? tags : (tags ?? '').split(/[;,\s]+/);
  return [...new Set(list.map((t) => t.trim().toLowerCase()).filter(Boolean))].sort();
}

/** The `ipconfig0` proxbox-api derives from a cloud-init `network` object (proxbox-api.md §5.6). */
export function ipconfigOf(network: Record<string, unknown> | undefined | null): string | null {
  if (!network) return null;
  if (typeof network.ipconfig0 === 'string') return network.ipconfig0;
  const ip = typeof network.ip === 'string' ? network.ip : null;
  if (!ip) return null;
  const cidr = network.cidr !== undefined && !ip.includes('/') && ip !== 'dhcp' && ip !== 'auto' ? `/${String(network.cidr)}` : '';
  const gw = network.gw ?? network.gateway;
  return `ip=${ip}${cidr}${gw ? `,gw=${String(gw)}` : ''}`;
}

/**
 * Post-apply drift (proxbox-api.md §8.5): compares what we asked for with what Proxmox reports, field by field, only for
 * the fields the payload carried (NICs per managed option, domain/nics.ts). The pending-deletion tag is ours and never counts as drift. Reported, never fixed.
 */
export function driftOf(kind: GuestKind, desired: QemuIntentPayload | LxcIntentPayload, config: Record<string, unknown>): FieldDrift[] {
  const out: FieldDrift[] = [];
  const actual = (key: string) => (config[key] === undefined || config[key] === null ? null : String(config[key]));
  const compare = (field: string, want: unknown, have: string | null) => {
    if (want === undefined || want === null) return;
    if (String(want) !== have) out.push({ field, desired: String(want), actual: have });
  };
  const nameKey = kind === 'qemu' ? 'name' : 'hostname';
  compare(nameKey, (desired as Record<string, unknown>)[nameKey], actual(nameKey));
  compare('cores', desired.cores, actual('cores'));
  compare('memory', desired.memory_mib, actual('memory'));
  if (desired.tags !== undefined) {
    const want = tagSet(desired.tags).filter((t) => t !== 'proxbox-pending-deletion');
    const have = tagSet(actual('tags')).filter((t) => t !== 'proxbox-pending-deletion');
    if (want.join(';') !== have.join(';')) out.push({ field: 'tags', desired: want.join(';'), actual: have.join(';') || null });
  }
  for (const disk of desired.disks ?? []) {
    const key = String(disk.key ?? '');
    const want = diskGib(String(disk.value ?? ''));
    if (!key || want === null || /media=cdrom/.test(String(disk.value))) continue;
    const have = actual(key);
    const haveGib = have === null ? null : diskGib(have);
    if (haveGib !== want) out.push({ field: `${key}.size`, desired: `${want}G`, actual: haveGib === null ? have : `${haveGib}G` });
  }
  out.push(...nicDrift(kind, desired.nics ?? [], config));
  const ci = (desired as { cloud_init?: CloudInitPayload | null }).cloud_init;
  if (ci) {
    compare('ciuser', ci.user, actual('ciuser'));
    compare('ipconfig0', ipconfigOf(ci.network as Record<string, unknown> | undefined), actual('ipconfig0'));
    if (ci.dns_servers?.length) compare('nameserver', ci.dns_servers.join(' '), actual('nameserver'));
    compare('searchdomain', ci.search_domain, actual('searchdomain'));
  }
  return out;
}
