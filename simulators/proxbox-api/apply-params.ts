import type { IndexedItem, LxcIntentPayload, QemuIntentPayload } from '../../contracts/proxbox-api';
import { cloudInitParams } from './cloud-init';
import type { ConfigValue } from './fake-proxmox';

type Params = Record<string, ConfigValue>;

/** Python's `str()` for the JSON values an item can hold. */
export function pyStr(v: unknown): string {
  if (v === null || v === undefined) return 'None';
  if (v === true) return 'True';
  if (v === false) return 'False';
  return typeof v === 'object' ? JSON.stringify(v) : String(v);
}

const truthy = (v: unknown) => v !== null && v !== undefined && v !== '' && v !== 0 && v !== false;

/** proxbox-api.md §5.4: Proxmox key and value of every disk or NIC item; items without a value are skipped. */
export function indexedItemParams(items: readonly IndexedItem[], prefix: string): Params {
  const out: Params = {};
  items.forEach((item, index) => {
    const key = [item.key, item.name, item.slot].find(truthy) ?? `${prefix}${index}`;
    let value: unknown = truthy(item.value) ? item.value : item.config;
    if (value === null || value === undefined) {
      const parts = Object.entries(item)
        .filter(([field, v]) => !['key', 'name', 'slot'].includes(field) && v !== null && v !== undefined)
        .map(([field, v]) => `${field}=${pyStr(v)}`);
      if (!parts.length) return;
      value = parts.join(',');
    }
    out[pyStr(key)] = typeof value === 'number' ? value : pyStr(value);
  });
  return out;
}

/** `POST nodes/{node}/qemu` parameters (proxbox-api.md §5.2). `storage` is ignored for QEMU. */
export function qemuCreateParams(p: QemuIntentPayload): Params {
  const params: Params = { vmid: p.vmid, name: p.name ?? '' };
  if (p.cores != null) params.cores = p.cores;
  if (p.memory_mib != null) params.memory = p.memory_mib;
  if (p.tags?.length) params.tags = p.tags.join(';');
  if (p.cloud_init) Object.assign(params, cloudInitParams(p.cloud_init));
  return { ...params, ...indexedItemParams(p.disks, 'scsi'), ...indexedItemParams(p.nics, 'net') };
}

/** `POST nodes/{node}/lxc` parameters (proxbox-api.md §5.3). */
export function lxcCreateParams(p: LxcIntentPayload): Params {
  const params: Params = { vmid: p.vmid, hostname: p.hostname ?? '', ostemplate: p.ostemplate ?? '' };
  if (p.cores != null) params.cores = p.cores;
  if (p.memory_mib != null) params.memory = p.memory_mib;
  if (p.storage != null) params.storage = p.storage;
  if (p.password != null) params.password = p.password;
  if (p.tags?.length) params.tags = p.tags.join(';');
  if (p.cloud_init) Object.assign(params, cloudInitParams(p.cloud_init));
  return { ...params, ...indexedItemParams(p.disks, 'mp'), ...indexedItemParams(p.nics, 'net') };
}

/** The config an update asks for: only fields present in the payload, nulls ignored, `tags` whenever present (proxbox-api.md §5.5). */
export function desiredUpdate(kind: 'qemu' | 'lxc', p: QemuIntentPayload | LxcIntentPayload): Params {
  const out: Params = {};
  const name = kind === 'qemu' ? (p as QemuIntentPayload).name : (p as LxcIntentPayload).hostname;
  if (name != null) out[kind === 'qemu' ? 'name' : 'hostname'] = name;
  if (p.cores != null) out.cores = p.cores;
  if (p.memory_mib != null) out.memory = p.memory_mib;
  if (p.tags !== undefined) out.tags = p.tags.join(';');
  Object.assign(out, indexedItemParams(p.disks, kind === 'qemu' ? 'scsi' : 'mp'), indexedItemParams(p.nics, 'net'));
  if (p.cloud_init) Object.assign(out, cloudInitParams(p.cloud_init));
  return out;
}

const PY_INT = /^\s*[+-]?\d+\s*$/;

/** Equality of proxbox-api.md §5.5: an int target against `int(str(current))`, anything else against `str(current)`. */
export function valuesMatch(current: unknown, desired: ConfigValue): boolean {
  if (current === desired) return true;
  const s = pyStr(current);
  if (typeof desired === 'number') return PY_INT.test(s) && Number(s) === desired;
  return s === desired;
}

export function updateDelta(current: Record<string, unknown>, desired: Params): Params {
  return Object.fromEntries(Object.entries(desired).filter(([k, v]) => !valuesMatch(current[k], v)));
}

const QEMU_OFFLINE = /^(cores|memory)$|^(scsi|virtio|ide|sata|efidisk)/;
const LXC_OFFLINE = /^(cores|memory)$|^(mp|rootfs)/;

export const touchesOfflineKey = (kind: 'qemu' | 'lxc', delta: Params) =>
  Object.keys(delta).some((k) => (kind === 'qemu' ? QEMU_OFFLINE : LXC_OFFLINE).test(k));
