/**
 * NetBox VMInterfaces as proxbox-api `nics` items (proxbox-api.md §5.2–5.4, netbox.md §7.1, §7.7, §8.1): what each field
 * becomes, which key each interface takes, what blocks, and how a desired NIC compares with what Proxmox holds.
 *
 * - model (qemu): the interface's `proxmox_nic_model` custom field, `virtio` when empty; LXC NICs have no model.
 * - MAC: the interface's primary MAC address (`macaddr` of the model for qemu, `hwaddr=` for LXC); none: Proxmox picks
 *   one at create, and an update keeps the one Proxmox has.
 * - bridge: `proxmox_bridge` on the interface, else `proxmox_bridge` on the VM, else the endpoint's `defaultBridge`.
 * - VLAN: mode Access (or Tagged without tagged VLANs) with an untagged VLAN: `tag=<vid>`; no mode: no tag.
 * - MTU: `mtu=`; link state: a disabled interface gets `link_down=1`.
 * - LXC: `name=<interface name>`, and `ip=dhcp` at create (IP addresses are not mapped; an update keeps Proxmox's).
 * Options NetBox does not model (firewall, rate, queues, ip on LXC...) are kept from Proxmox when a NIC is updated.
 */
import { VmInterfaceChangeData, type ChangeDiff } from '../contracts/netbox';
import type { GuestKind } from './guest-kind';

/** Custom field (text) on `virtualization.vminterface` and `virtualization.virtualmachine`: the Proxmox bridge. */
export const BRIDGE_CUSTOM_FIELD = 'proxmox_bridge';
/** Custom field (text) on `virtualization.vminterface`: the QEMU NIC model (default `virtio`). */
export const NIC_MODEL_CUSTOM_FIELD = 'proxmox_nic_model';

/** A Proxmox bridge name (`pve-bridge-id`: letters, digits, `-`, `_`, `.`), at most 15 characters like any Linux interface name. */
export const BRIDGE_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,14}$/;
/** An LXC interface name inside the container (Proxmox `name`, a Linux interface name). */
const LXC_IFNAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,14}$/;
/** Unicast MACs only: Proxmox refuses the I/G bit (`mac-addr` format). */
const UNICAST_MAC = /^[0-9a-f][02468ace](?::[0-9a-f]{2}){5}$/i;
const ANY_MAC = /^[0-9a-f]{2}(?:[:-][0-9a-f]{2}){5}$/i;
const NET_KEY = /^net(\d+)$/;
/** Proxmox allows net0 to net31. */
const MAX_NICS = 32;

export const QEMU_NIC_MODELS = [
  'virtio', 'e1000', 'e1000e', 'e1000-82540em', 'e1000-82544gc', 'e1000-82545em', 'i82551', 'i82557b', 'i82559er',
  'ne2k_isa', 'ne2k_pci', 'pcnet', 'rtl8139', 'vmxnet3',
] as const;

/** MTU ranges Proxmox accepts (qemu-server refuses < 576 except 1; pve-container's minimum is 64). */
export const MTU_RANGE: Record<GuestKind, { min: number; max: number }> = { qemu: { min: 576, max: 65520 }, lxc: { min: 64, max: 65535 } };

/** One VMInterface with its references resolved (MAC address text, VLAN ids), from a ChangeDiff or a REST row. */
export interface InterfaceFacts {
  netboxId: number;
  name: string;
  enabled: boolean;
  mtu: number | null;
  /** The primary MAC address as NetBox serves it, or null. */
  macAddress: string | null;
  /** 802.1Q mode: null, `access`, `tagged`, `tagged-all`, `q-in-q`. */
  mode: string | null;
  untaggedVid: number | null;
  taggedVids: number[];
  customFields: Readonly<Record<string, unknown>>;
}

/** A NIC as we want it in Proxmox; `macaddr` null leaves the MAC to Proxmox. */
export interface DesiredNic {
  key: string;
  interfaceName: string;
  model: string | null;
  macaddr: string | null;
  bridge: string;
  tag: number | null;
  mtu: number | null;
  linkDown: boolean;
}

export interface NicSources {
  kind: GuestKind;
  /** `proxmox_bridge` of the VM. */
  vmBridge: string | null;
  /** The `defaultBridge` of the endpoint that serves the VM's cluster. */
  endpointBridge: string | null;
  endpointName: string | null;
}

export type NicMapping = { ok: true; nic: DesiredNic } | { ok: false; message: string };

const text = (v: unknown): string | null => (typeof v === 'string' && v.trim() ? v.trim() : null);

/** The bridge of one interface and where it came from; null when no source names one. */
function bridgeOf(iface: InterfaceFacts, src: NicSources): { bridge: string; from: string } | null {
  const own = text(iface.customFields[BRIDGE_CUSTOM_FIELD]);
  if (own) return { bridge: own, from: `${BRIDGE_CUSTOM_FIELD} of interface ${iface.name}` };
  if (src.vmBridge) return { bridge: src.vmBridge, from: `${BRIDGE_CUSTOM_FIELD} of the VM` };
  if (src.endpointBridge) return { bridge: src.endpointBridge, from: `defaultBridge of Proxmox endpoint ${src.endpointName ?? '?'}` };
  return null;
}

/** One interface as a NIC, or the sentence that says what to set in NetBox (or in our endpoint settings). */
export function mapInterface(iface: InterfaceFacts, key: string, src: NicSources): NicMapping {
  const fail = (message: string): NicMapping => ({ ok: false, message: `Interface ${iface.name}: ${message}` });
  const bridge = bridgeOf(iface, src);
  if (!bridge) {
    return fail(`no Proxmox bridge: set the custom field ${BRIDGE_CUSTOM_FIELD} on the interface or the VM (for example vmbr0), `
      + `or defaultBridge on Proxmox endpoint ${src.endpointName ?? '(none serves this cluster)'} (PATCH /api/v1/proxmox-endpoints/{id})`);
  }
  if (!BRIDGE_NAME.test(bridge.bridge)) {
    return fail(`bridge '${bridge.bridge}' (${bridge.from}) is not a Proxmox bridge name: use letters, digits, '-', '_' or '.', at most 15 characters (for example vmbr0)`);
  }
  const modelField = text(iface.customFields[NIC_MODEL_CUSTOM_FIELD]);
  let model: string | null = null;
  if (src.kind === 'qemu') {
    model = (modelField ?? 'virtio').toLowerCase();
    if (!(QEMU_NIC_MODELS as readonly string[]).includes(model)) {
      return fail(`NIC model '${modelField}' is not one Proxmox knows: set ${NIC_MODEL_CUSTOM_FIELD} to one of ${QEMU_NIC_MODELS.join(', ')}, or clear it for virtio`);
    }
  } else {
    if (modelField) return fail(`LXC containers have no NIC model: clear ${NIC_MODEL_CUSTOM_FIELD} ('${modelField}')`);
    if (!LXC_IFNAME.test(iface.name)) {
      return fail(`'${iface.name}' is not a Linux interface name, which an LXC NIC needs: rename it with letters, digits, '-', '_' or '.', at most 15 characters (for example eth0)`);
    }
  }
  let macaddr: string | null = null;
  if (iface.macAddress !== null) {
    if (!ANY_MAC.test(iface.macAddress)) return fail(`MAC address '${iface.macAddress}' is not a MAC address: correct its primary MAC address`);
    macaddr = iface.macAddress.replace(/-/g, ':').toUpperCase();
    if (!UNICAST_MAC.test(macaddr)) return fail(`MAC address ${macaddr} is a multicast address, which Proxmox refuses: set a unicast primary MAC address (second hex digit even)`);
  }
  const vlan = vlanTagOf(iface);
  if (!vlan.ok) return fail(vlan.message);
  const range = MTU_RANGE[src.kind];
  if (iface.mtu !== null) {
    if (iface.mtu < range.min || iface.mtu > range.max) {
      return fail(`MTU ${iface.mtu} is outside what Proxmox accepts for ${src.kind === 'qemu' ? 'a QEMU' : 'an LXC'} NIC (${range.min}–${range.max}): set the MTU in that range, or clear it to use the bridge's`);
    }
    if (src.kind === 'qemu' && model !== 'virtio') return fail(`Proxmox sets an MTU only on virtio NICs: clear the MTU, or set ${NIC_MODEL_CUSTOM_FIELD} to virtio (it is ${model})`);
  }
  return { ok: true, nic: { key, interfaceName: iface.name, model, macaddr, bridge: bridge.bridge, tag: vlan.tag, mtu: iface.mtu, linkDown: !iface.enabled } };
}

function vlanTagOf(iface: InterfaceFacts): { ok: true; tag: number | null } | { ok: false; message: string } {
  const mode = iface.mode ?? null;
  if (mode === null || mode === '') return { ok: true, tag: null };
  if (mode === 'access' || (mode === 'tagged' && iface.taggedVids.length === 0)) return { ok: true, tag: iface.untaggedVid };
  const what = mode === 'tagged' ? `802.1Q mode Tagged with tagged VLANs (${iface.taggedVids.join(', ')})`
    : `802.1Q mode ${mode === 'tagged-all' ? 'Tagged (All)' : mode === 'q-in-q' ? 'Q-in-Q' : `'${mode}'`}`;
  return { ok: false, message: `${what} cannot be expressed as a Proxmox NIC, which carries one untagged VLAN (tag): set the mode to Access with an untagged VLAN, or clear the mode` };
}

/**
 * Keys in a stable order: an interface named `net<N>` takes that key; the others take the free keys in order of their
 * names (digits compared as numbers: eth2 before eth10). Names beyond net31 get no key.
 */
export function assignNicKeys(names: readonly string[]): Map<string, string> {
  const keys = new Map<string, string>();
  const taken = new Set<number>();
  for (const name of names) {
    const m = NET_KEY.exec(name);
    if (m && Number(m[1]) < MAX_NICS && !taken.has(Number(m[1]))) {
      taken.add(Number(m[1]));
      keys.set(name, name);
    }
  }
  let free = 0;
  for (const name of [...names].sort(naturalCompare)) {
    if (keys.has(name)) continue;
    while (taken.has(free)) free += 1;
    if (free >= MAX_NICS) break;
    taken.add(free);
    keys.set(name, `net${free}`);
  }
  return keys;
}

/** Name order with digit runs compared as numbers, independent of any locale. */
export function naturalCompare(a: string, b: string): number {
  const parts = (s: string) => s.split(/(\d+)/).filter(Boolean);
  const pa = parts(a), pb = parts(b);
  for (let i = 0; i < Math.min(pa.length, pb.length); i += 1) {
    const x = pa[i]!, y = pb[i]!;
    const nx = /^\d/.test(x), ny = /^\d/.test(y);
    const c = nx && ny ? Number(x) - Number(y) : x < y ? -1 : x > y ? 1 : 0;
    if (c !== 0) return c;
  }
  return pa.length - pb.length || (a < b ? -1 : a > b ? 1 : 0);
}

/** The desired NICs of interfaces as `{key, value}` items, or the block messages (one per interface that cannot be mapped). */
export function nicsOf(interfaces: readonly InterfaceFacts[], allNames: readonly string[], src: NicSources): { nics: DesiredNic[]; blocked: string[] } {
  const keys = assignNicKeys([...new Set([...allNames, ...interfaces.map((i) => i.name)])]);
  const nics: DesiredNic[] = [], blocked: string[] = [];
  const seen = new Set<string>();
  for (const iface of [...interfaces].sort((a, b) => naturalCompare(a.name, b.name))) {
    const key = keys.get(iface.name);
    if (seen.has(iface.name)) {
      blocked.push(`Interface ${iface.name}: the VM has two interfaces of that name; rename one`);
      continue;
    }
    seen.add(iface.name);
    if (!key) {
      blocked.push(`Interface ${iface.name}: Proxmox allows at most ${MAX_NICS} NICs (net0–net${MAX_NICS - 1})`);
      continue;
    }
    const mapped = mapInterface(iface, key, src);
    if (mapped.ok) nics.push(mapped.nic);
    else blocked.push(mapped.message);
  }
  return { nics, blocked };
}

/** A Proxmox `net<N>` value as an ordered list of options (the qemu model comes first as `model` or `model=MAC`). */
export interface ParsedNic { model: string | null; macaddr: string | null; options: [string, string][] }

export function parseNic(kind: GuestKind, value: string): ParsedNic {
  const parts = value.split(',').map((p) => p.trim()).filter(Boolean);
  const out: ParsedNic = { model: null, macaddr: null, options: [] };
  for (const [i, part] of parts.entries()) {
    const eq = part.indexOf('=');
    const k = eq < 0 ? part : part.slice(0, eq), v = eq < 0 ? '' : part.slice(eq + 1);
    if (kind === 'qemu' && (QEMU_NIC_MODELS as readonly string[]).includes(k.toLowerCase()) && (i === 0 || out.model === null)) {
      out.model = k.toLowerCase();
      out.macaddr = v ? v.toUpperCase() : null;
    } else if (kind === 'qemu' && k === 'model') out.model = v.toLowerCase();
    else if (kind === 'qemu' && k === 'macaddr') out.macaddr = v.toUpperCase();
    else if (kind === 'lxc' && k === 'hwaddr') out.macaddr = v.toUpperCase();
    else out.options.push([k, v]);
  }
  return out;
}

/** Options we set from NetBox; every other option of a live NIC is Proxmox's own and kept on update. */
const MANAGED: Record<GuestKind, readonly string[]> = { qemu: ['bridge', 'tag', 'mtu', 'link_down'], lxc: ['name', 'bridge', 'tag', 'mtu', 'link_down'] };

/**
 * The Proxmox value of a desired NIC. With `live` (the NIC Proxmox has under that key), the options NetBox does not model
 * are kept, and so is Proxmox's MAC when NetBox has none (re-sending a NIC without one would give it a new MAC). An LXC
 * NIC is created with `ip=dhcp`.
 */
export function nicValue(kind: GuestKind, nic: DesiredNic, opts: { live?: string | null; create?: boolean } = {}): string {
  const live = opts.live;
  const was = live ? parseNic(kind, live) : null;
  const mac = nic.macaddr ?? was?.macaddr ?? null;
  const managed: [string, string][] = [];
  if (kind === 'lxc') managed.push(['name', nic.interfaceName]);
  managed.push(['bridge', nic.bridge]);
  if (kind === 'lxc' && mac) managed.push(['hwaddr', mac]);
  if (nic.tag !== null) managed.push(['tag', String(nic.tag)]);
  if (nic.mtu !== null) managed.push(['mtu', String(nic.mtu)]);
  if (nic.linkDown) managed.push(['link_down', '1']);
  const kept = (was?.options ?? []).filter(([k]) => !MANAGED[kind].includes(k));
  if (kind === 'lxc' && opts.create && !kept.some(([k]) => k === 'ip')) kept.push(['ip', 'dhcp']);
  const head = kind === 'qemu' ? [mac ? `${nic.model}=${mac}` : nic.model!] : [];
  return [...head, ...[...managed, ...kept].map(([k, v]) => `${k}=${v}`)].join(',');
}

/** What differs between a desired NIC and the live value under its key, field by field (empty: equal). */
export function nicDifferences(kind: GuestKind, nic: DesiredNic, live: string | null | undefined): { field: string; desired: string; actual: string | null }[] {
  if (live === null || live === undefined || live === '') return [{ field: nic.key, desired: nicValue(kind, nic), actual: null }];
  const have = parseNic(kind, live);
  const opt = (k: string) => have.options.find(([x]) => x === k)?.[1] ?? null;
  const out: { field: string; desired: string; actual: string | null }[] = [];
  const check = (field: string, want: string | null, actual: string | null) => {
    if (want !== actual) out.push({ field: `${nic.key}.${field}`, desired: want ?? '(none)', actual });
  };
  if (kind === 'qemu') check('model', nic.model, have.model);
  if (nic.macaddr) check('macaddr', nic.macaddr, have.macaddr);
  if (kind === 'lxc') check('name', nic.interfaceName, opt('name'));
  check('bridge', nic.bridge, opt('bridge'));
  check('tag', nic.tag === null ? null : String(nic.tag), opt('tag'));
  check('mtu', nic.mtu === null ? null : String(nic.mtu), opt('mtu'));
  const down = opt('link_down');
  check('link_down', nic.linkDown ? '1' : null, down === null || down === '0' ? null : down);
  return out;
}

/** The payload items of desired NICs (proxbox-api.md §5.4: explicit `{key, value}` pairs). */
export function nicItems(kind: GuestKind, nics: readonly DesiredNic[], opts: { create: boolean }): { key: string; value: string }[] {
  return nics.map((n) => ({ key: n.key, value: nicValue(kind, n, { create: opts.create }) }));
}

/** A payload item read back as the NIC it asks for (the inverse of `nicItems`); null when it is not a `net<N>` item. */
export function desiredNicOf(kind: GuestKind, item: { key?: unknown; value?: unknown }): DesiredNic | null {
  const key = typeof item.key === 'string' ? item.key : null;
  if (!key || !NET_KEY.test(key) || typeof item.value !== 'string') return null;
  const p = parseNic(kind, item.value);
  const opt = (k: string) => p.options.find(([x]) => x === k)?.[1] ?? null;
  const num = (k: string) => (opt(k) === null ? null : Number(opt(k)));
  return {
    key, interfaceName: opt('name') ?? key, model: p.model, macaddr: p.macaddr, bridge: opt('bridge') ?? '',
    tag: num('tag'), mtu: num('mtu'), linkDown: opt('link_down') === '1',
  };
}

const liveNic = (config: Readonly<Record<string, unknown>>, key: string) => (typeof config[key] === 'string' ? config[key] : null);

/**
 * An update's NICs against the guest's live config (proxbox-api compares per key, proxbox-api.md §5.5): only those that
 * differ are sent, each merged with what Proxmox keeps.
 */
export function nicsToSend(kind: GuestKind, items: readonly { key?: unknown; value?: unknown }[], config: Readonly<Record<string, unknown>>): { key: string; value: string }[] {
  return items
    .map((i) => desiredNicOf(kind, i))
    .filter((n): n is DesiredNic => n !== null && nicDifferences(kind, n, liveNic(config, n.key)).length > 0)
    .map((n) => ({ key: n.key, value: nicValue(kind, n, { live: liveNic(config, n.key) }) }));
}

/** Post-apply drift of the NICs a payload carried (proxbox-api.md §8.5 extended to NICs). */
export function nicDrift(kind: GuestKind, items: readonly { key?: unknown; value?: unknown }[], config: Readonly<Record<string, unknown>>) {
  return items.map((i) => desiredNicOf(kind, i)).filter((n): n is DesiredNic => n !== null)
    .flatMap((n) => nicDifferences(kind, n, liveNic(config, n.key)));
}

/** What the planner reads from NetBox to resolve interface references (netbox.md §7.1). */
export interface InterfaceLookups {
  /** dcim.MACAddress pk → its address. */
  macAddresses?: ReadonlyMap<number, string>;
  /** ipam.VLAN pk → its VLAN id. */
  vlanVids?: ReadonlyMap<number, number>;
}

/** An interface ChangeDiff's desired state with its references resolved, or why it cannot be read. */
export function interfaceFactsOf(netboxId: number, data: VmInterfaceChangeData, lookups: InterfaceLookups): InterfaceFacts | { unreadable: string } {
  const mac = data.primary_mac_address ?? null;
  const macAddress = mac === null ? null : lookups.macAddresses?.get(mac);
  if (macAddress === undefined) return { unreadable: `Interface ${data.name}: its primary MAC address (${mac}) could not be read from NetBox` };
  const vid = (pk: number) => lookups.vlanVids?.get(pk);
  const untagged = data.untagged_vlan ?? null;
  const untaggedVid = untagged === null ? null : vid(untagged);
  if (untaggedVid === undefined) return { unreadable: `Interface ${data.name}: its untagged VLAN (${untagged}) could not be read from NetBox` };
  return {
    netboxId, name: data.name, enabled: data.enabled ?? true, mtu: data.mtu ?? null, macAddress, mode: data.mode ?? null, untaggedVid,
    taggedVids: (data.tagged_vlans ?? []).map((pk) => vid(pk) ?? pk), customFields: data.custom_fields ?? {},
  };
}

/** MAC address and VLAN pks that interface ChangeDiffs name, to read before planning. */
export function interfaceReferences(diffs: readonly ChangeDiff[]): { macAddressIds: number[]; vlanIds: number[] } {
  const macs = new Set<number>(), vlans = new Set<number>();
  for (const d of diffs) {
    const parsed = d.modified_data ? VmInterfaceChangeData.safeParse(d.modified_data) : null;
    if (!parsed?.success) continue;
    if (parsed.data.primary_mac_address != null) macs.add(parsed.data.primary_mac_address);
    for (const v of [parsed.data.untagged_vlan, ...(parsed.data.tagged_vlans ?? [])]) if (v != null) vlans.add(v);
  }
  return { macAddressIds: [...macs].sort((a, b) => a - b), vlanIds: [...vlans].sort((a, b) => a - b) };
}

/**
 * The NICs of one VM's interface ChangeDiffs: the items to send, what blocks, and what only warns. A create sends every
 * interface; an update sends the interfaces the branch created or changed (keys counted among `existingNames`, the VM's
 * interfaces in NetBox) and warns about deleted ones, which proxbox-api cannot remove.
 */
export function plannedNics(diffs: readonly ChangeDiff[], existingNames: readonly string[], src: NicSources, lookups: InterfaceLookups, create: boolean):
  { items: { key: string; value: string }[]; blocked: string[]; warnings: string[] } {
  const blocked: string[] = [], warnings: string[] = [], facts: InterfaceFacts[] = [];
  const deleted = new Set<string>();
  for (const d of diffs) {
    if (d.modified_data === null) {
      const name = String((d.original_data ?? {})['name'] ?? d.object_repr);
      deleted.add(name);
      if (!create && d.action.value === 'delete') {
        warnings.push(`Interface ${name} was deleted in NetBox, but proxbox-api cannot remove a NIC: remove it from the guest in Proxmox`);
      }
      continue;
    }
    const parsed = VmInterfaceChangeData.safeParse(d.modified_data);
    if (!parsed.success) {
      blocked.push(`Interface ChangeDiff ${d.id} does not hold VMInterface data`);
      continue;
    }
    const f = interfaceFactsOf(d.object_id, parsed.data, lookups);
    if ('unreadable' in f) blocked.push(f.unreadable);
    else facts.push(f);
  }
  // A deleted interface keeps its slot: its NIC stays in Proxmox, and the others must keep their keys.
  const { nics, blocked: unmappable } = nicsOf(facts, [...existingNames, ...deleted], src);
  return { items: nicItems(src.kind, nics, { create }), blocked: [...blocked, ...unmappable], warnings };
}
