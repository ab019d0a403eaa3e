import { createHash, randomBytes } from 'node:crypto';
import { allocateDisk, diskBytes, isAllocation, isDiskKey, storageOf } from './disk-spec';
import type { ConfigValue, FakeEndpoint, FakeGuest, FakeNode, FakeProxmox, GuestType, PveLogEntry } from './fake-proxmox';
import { errorText, paramError, PveError } from './pve-errors';
import { parseUpid } from './upid';

type Params = Record<string, ConfigValue>;
type Item = Record<string, unknown>;

const DNS_NAME = /^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?\.)*[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?$/;
const NOT_IN_SCHEMA = 'property is not defined in schema and the schema does not allow additional properties';
const LXC_FOREIGN_KEY = /^(ci[a-z]*|sshkeys|ipconfig\d+)$/;
const MASKED_PASSWORD = '**********';

const label = (type: GuestType) => (type === 'qemu' ? 'VM' : 'CT');
const confDir = (type: GuestType) => (type === 'qemu' ? 'qemu-server' : 'lxc');
const withoutUndefined = (o: Item): Item => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));

/**
 * The Proxmox VE API of one endpoint's cluster, as proxbox-api calls it. Every call is written
 * to the pve log first (it reached Proxmox), then may fail like Proxmox does.
 */
export class PveApi {
  constructor(private readonly cluster: FakeProxmox, readonly endpoint: FakeEndpoint) {}

  private call<T>(method: PveLogEntry['method'], path: string, params: Item, fn: () => T): T {
    this.cluster.settle();
    const entry = this.cluster.logPve(this.endpoint.id, method, path, params);
    try {
      const fault = this.cluster.takePveFault(method, path);
      if (fault) throw fault;
      return fn();
    } catch (e) {
      entry.error = errorText(e);
      throw e;
    }
  }

  private node(name: string): FakeNode {
    const node = this.cluster.findNode(this.endpoint.id, name);
    if (!node) throw new PveError(500, `hostname lookup '${name}' failed - failed to get address info for: ${name}: Name or service not known`);
    if (node.status === 'offline') throw new PveError(595, 'No route to host');
    return node;
  }

  private guestOn(node: string, type: GuestType, vmid: number): FakeGuest {
    const guest = this.cluster.findGuest(this.endpoint.id, vmid);
    if (!guest || guest.node !== node || guest.type !== type) {
      throw new PveError(500, `Configuration file 'nodes/${node}/${confDir(type)}/${vmid}.conf' does not exist`);
    }
    return guest;
  }

  private assertWritable(guest: FakeGuest): void {
    if (guest.destroying) throw new PveError(500, `can't lock file '/var/lock/${confDir(guest.type)}/lock-${guest.vmid}.conf' - got timeout`);
    if (guest.lock) throw new PveError(500, `${label(guest.type)} is locked (${guest.lock})`);
  }

  private checkParams(type: GuestType, params: Params): void {
    const errors: Record<string, string> = {};
    const nameKey = type === 'qemu' ? 'name' : 'hostname';
    if (params[nameKey] !== undefined && !DNS_NAME.test(String(params[nameKey]))) {
      errors[nameKey] = 'invalid format - value does not look like a valid DNS name';
    }
    for (const key of ['cores', 'memory']) {
      if (params[key] !== undefined && !/^\d+$/.test(String(params[key]))) errors[key] = `type check ('integer') failed - got '${params[key]}'`;
    }
    if (type === 'lxc') for (const key of Object.keys(params)) if (LXC_FOREIGN_KEY.test(key)) errors[key] = NOT_IN_SCHEMA;
    if (Object.keys(errors).length) throw paramError(errors);
  }

  /**
   * NICs as Proxmox stores them: a NIC written without a MAC gets a new one (prefix BC:24:11, as Proxmox generates),
   * and an LXC NIC gets `type=veth`. Re-writing a NIC without its MAC therefore changes the MAC, as in Proxmox.
   */
  private completeNics(type: GuestType, params: Params): void {
    const mac = () => `BC:24:11:${[...randomBytes(3)].map((b) => b.toString(16).padStart(2, '0').toUpperCase()).join(':')}`;
    for (const [key, raw] of Object.entries(params)) {
      if (!/^net\d+$/.test(key) || typeof raw !== 'string') continue;
      const parts = raw.split(',');
      if (type === 'qemu') {
        if (parts[0] && !parts[0].includes('=')) parts[0] = `${parts[0]}=${mac()}`;
      } else {
        if (!parts.some((p) => p.startsWith('hwaddr='))) parts.push(`hwaddr=${mac()}`);
        if (!parts.some((p) => p.startsWith('type='))) parts.push('type=veth');
      }
      params[key] = parts.join(',');
    }
  }

  /**
   * Allocates `<storage>:<size>` disk values in place (the storage must exist on the node). A
   * replaced volume is kept as `unusedN`, as Proxmox does.
   */
  private allocateDisks(type: GuestType, node: string, vmid: number, params: Params, current: Record<string, ConfigValue>): void {
    for (const [key, value] of Object.entries(params)) {
      if (!isDiskKey(type, key) || typeof value !== 'string' || !isAllocation(value)) continue;
      const storage = storageOf(value);
      if (storage && !this.cluster.findStorage(this.endpoint.id, node, storage)) throw new PveError(500, `storage '${storage}' does not exist`);
      params[key] = allocateDisk(value, vmid, [...Object.values(current), ...Object.values(params)]);
      const old = current[key];
      if (old !== undefined && String(old).includes(`vm-${vmid}-disk-`)) {
        let n = 0;
        while (current[`unused${n}`] !== undefined || params[`unused${n}`] !== undefined) n += 1;
        params[`unused${n}`] = String(old).split(',')[0]!;
      }
    }
  }

  listNodes(): Item[] {
    return this.call('GET', 'nodes', {}, () => this.cluster.nodesOf(this.endpoint.id).map((n) => ({
      node: n.name, status: n.status, type: 'node', id: `node/${n.name}`, maxcpu: 16, maxmem: 68_719_476_736,
    })));
  }

  listGuests(node: string, type: GuestType): Item[] {
    return this.call('GET', `nodes/${node}/${type}`, {}, () => {
      this.node(node);
      return this.cluster.guestsOf(this.endpoint.id)
        .filter((g) => g.node === node && g.type === type)
        .map((g) => withoutUndefined({
          vmid: g.vmid, name: nameOf(g), status: g.status, ...(type === 'lxc' ? { type: 'lxc' } : {}),
          cpus: Number(g.config.cores ?? 1), maxmem: memBytes(g), maxdisk: diskTotal(g), mem: g.status === 'running' ? Math.floor(memBytes(g) / 4) : 0,
          uptime: uptimeOf(g), lock: g.lock ?? undefined, tags: g.config.tags === undefined ? undefined : String(g.config.tags),
          template: g.template ? 1 : undefined,
        }));
    });
  }

  /** `GET cluster/resources`: raw Proxmox items (absent keys omitted). */
  clusterResources(type?: string): Item[] {
    return this.call('GET', 'cluster/resources', type ? { type } : {}, () => {
      const out: Item[] = [];
      if (!type || type === 'node') {
        for (const n of this.cluster.nodesOf(this.endpoint.id)) {
          out.push({ id: `node/${n.name}`, type: 'node', node: n.name, status: n.status, maxcpu: 16, maxmem: 68_719_476_736, level: '' });
        }
      }
      if (!type || type === 'storage') {
        for (const s of this.cluster.storagesOf(this.endpoint.id)) {
          out.push({
            id: `storage/${s.node}/${s.storage}`, type: 'storage', storage: s.storage, node: s.node, status: 'available',
            content: s.content.join(','), plugintype: s.plugintype, shared: 0, maxdisk: 107_374_182_400,
            disk: s.volumes.reduce((sum, v) => sum + v.size, 0),
          });
        }
      }
      if (!type || type === 'vm') {
        for (const g of this.cluster.guestsOf(this.endpoint.id)) out.push(resourceOf(g));
      }
      return out;
    });
  }

  getConfig(node: string, type: GuestType, vmid: number): Item {
    return this.call('GET', `nodes/${node}/${type}/${vmid}/config`, {}, () => {
      this.node(node);
      return configView(this.guestOn(node, type, vmid));
    });
  }

  statusCurrent(node: string, type: GuestType, vmid: number): Item {
    return this.call('GET', `nodes/${node}/${type}/${vmid}/status/current`, {}, () => {
      this.node(node);
      const g = this.guestOn(node, type, vmid);
      return withoutUndefined({
        vmid: g.vmid, status: g.status, name: nameOf(g), lock: g.lock ?? undefined,
        tags: g.config.tags === undefined ? undefined : String(g.config.tags), template: g.template ? 1 : undefined,
        ...(type === 'qemu' ? { qmpstatus: g.status } : { type: 'lxc' }),
        cpus: Number(g.config.cores ?? 1), maxmem: memBytes(g), uptime: uptimeOf(g), ha: { managed: 0 },
      });
    });
  }

  /** `POST nodes/{node}/{qemu|lxc}`: returns the create task's UPID. The guest holds lock `create` while it runs. */
  create(node: string, type: GuestType, input: Params): string {
    return this.call('POST', `nodes/${node}/${type}`, input, () => {
      this.node(node);
      const params: Params = { ...input };
      const vmid = Number(params.vmid);
      if (!Number.isInteger(vmid) || vmid < 100) throw paramError({ vmid: 'value must have a minimum value of 100' });
      this.checkParams(type, params);
      const existing = this.cluster.findGuest(this.endpoint.id, vmid);
      if (existing) throw new PveError(500, `unable to create ${label(type)} ${vmid} - ${label(type)} ${vmid} already exists on node '${existing.node}'`);
      delete params.vmid;
      if (type === 'lxc') this.prepareLxc(node, vmid, params);
      this.allocateDisks(type, node, vmid, params, {});
      this.completeNics(type, params);
      const guest: FakeGuest = {
        endpointId: this.endpoint.id, vmid, node, type, status: 'stopped', lock: 'create', template: false,
        config: params, destroying: false, startedAt: null,
      };
      this.cluster.insertGuest(guest);
      return this.cluster.startTask(this.endpoint, node, type === 'qemu' ? 'qmcreate' : 'vzcreate', String(vmid), (exit) => {
        if (exit === 'OK' || exit.startsWith('WARNINGS')) guest.lock = null;
        else this.cluster.deleteGuest(guest);
      }).upid;
    });
  }

  private prepareLxc(node: string, vmid: number, params: Params): void {
    const ostemplate = String(params.ostemplate ?? '');
    const found = this.cluster.storagesOf(this.endpoint.id).some((s) => s.node === node && s.volumes.some((v) => v.volid === ostemplate));
    if (!found) throw new PveError(500, `unable to create CT ${vmid} - volume '${ostemplate}' does not exist`);
    const storage = params.storage === undefined ? 'local' : String(params.storage);
    if (params.storage !== undefined && !this.cluster.findStorage(this.endpoint.id, node, storage)) {
      throw new PveError(500, `storage '${storage}' does not exist`);
    }
    if (params.rootfs === undefined) params.rootfs = `${storage}:4`;
    for (const key of ['ostemplate', 'storage', 'password']) delete params[key];
    params.arch = 'amd64';
    params.ostype = /\/([a-z]+)-/.exec(ostemplate)?.[1] ?? 'unmanaged';
  }

  /** `PUT nodes/{node}/{type}/{vmid}/config`: synchronous, no task. */
  updateConfig(node: string, type: GuestType, vmid: number, input: Params): null {
    return this.call('PUT', `nodes/${node}/${type}/${vmid}/config`, input, () => {
      this.node(node);
      const guest = this.guestOn(node, type, vmid);
      this.assertWritable(guest);
      const params: Params = { ...input };
      this.checkParams(type, params);
      this.allocateDisks(type, node, vmid, params, guest.config);
      this.completeNics(type, params);
      Object.assign(guest.config, params);
      return null;
    });
  }

  /** `DELETE nodes/{node}/{type}/{vmid}`: a destroy task; Proxmox refuses running guests. */
  destroy(node: string, type: GuestType, vmid: number, params: Item): string {
    return this.call('DELETE', `nodes/${node}/${type}/${vmid}`, params, () => {
      this.node(node);
      const guest = this.guestOn(node, type, vmid);
      this.assertWritable(guest);
      if (guest.status === 'running') throw new PveError(500, `${label(type)} ${vmid} is running - destroy failed`);
      guest.destroying = true;
      return this.cluster.startTask(this.endpoint, node, type === 'qemu' ? 'qmdestroy' : 'vzdestroy', String(vmid), (exit) => {
        if (exit === 'OK' || exit.startsWith('WARNINGS')) this.cluster.deleteGuest(guest);
        else guest.destroying = false;
      }).upid;
    });
  }

  /** `GET nodes/{node}/tasks/{upid}/status`: raw Proxmox, so `exitstatus` is absent while the task runs. */
  taskStatus(node: string, upid: string): Item {
    return this.call('GET', `nodes/${node}/tasks/${upid}/status`, {}, () => {
      this.node(node);
      if (!parseUpid(upid)) throw new PveError(400, 'Parameter verification failed.', { upid: 'unable to parse worker upid' }, true);
      const task = this.cluster.findTask(this.endpoint.id, upid);
      if (!task || task.node !== node) throw new PveError(500, `unable to open file '/var/log/pve/tasks/active' - no such task`, undefined, true);
      return withoutUndefined({
        upid: task.upid, node: task.node, pid: task.pid, pstart: task.pstart, starttime: task.starttime, type: task.type,
        id: task.id, user: task.user, status: task.status, exitstatus: task.exitstatus ?? undefined,
      });
    });
  }

  nextId(vmid?: number): number {
    return this.call('GET', 'cluster/nextid', vmid === undefined ? {} : { vmid }, () => {
      const used = new Set(this.cluster.guestsOf(this.endpoint.id).map((g) => g.vmid));
      if (vmid !== undefined) {
        if (used.has(vmid)) throw paramError({ vmid: `VM ${vmid} already exists` });
        return vmid;
      }
      let next = 100;
      while (used.has(next)) next += 1;
      return next;
    });
  }

  storageContent(node: string, storage: string, content?: string): Item[] {
    return this.call('GET', `nodes/${node}/storage/${storage}/content`, content ? { content } : {}, () => {
      this.node(node);
      const s = this.cluster.findStorage(this.endpoint.id, node, storage);
      if (!s) throw new PveError(500, `storage '${storage}' does not exist`);
      return s.volumes.filter((v) => !content || v.content === content).map((v) => ({ ...v, ctime: 1_700_000_000 }));
    });
  }
}

function nameOf(g: FakeGuest): string | undefined {
  const name = g.config[g.type === 'qemu' ? 'name' : 'hostname'];
  return name === undefined ? undefined : String(name);
}

function memBytes(g: FakeGuest): number {
  return Number(g.config.memory ?? 512) * 1024 * 1024;
}

function diskTotal(g: FakeGuest): number {
  return Object.entries(g.config).filter(([k]) => isDiskKey(g.type, k)).reduce((sum, [, v]) => sum + diskBytes(String(v)), 0);
}

function uptimeOf(g: FakeGuest): number {
  return g.status === 'running' && g.startedAt ? Math.floor((Date.now() - g.startedAt) / 1000) : 0;
}

function resourceOf(g: FakeGuest): Item {
  return withoutUndefined({
    id: `${g.type}/${g.vmid}`, type: g.type, vmid: g.vmid, node: g.node, name: nameOf(g), status: g.status,
    lock: g.lock ?? undefined, tags: g.config.tags === undefined ? undefined : String(g.config.tags), template: g.template ? 1 : 0,
    maxcpu: Number(g.config.cores ?? 1), maxmem: memBytes(g), maxdisk: diskTotal(g),
    mem: g.status === 'running' ? Math.floor(memBytes(g) / 4) : 0, disk: 0, cpu: g.status === 'running' ? 0.01 : 0,
    uptime: uptimeOf(g), netin: 0, netout: 0,
  });
}

/** The config as Proxmox returns it: the password masked, the lock and a digest added. */
function configView(g: FakeGuest): Item {
  const config: Item = { ...g.config };
  if (config.cipassword !== undefined) config.cipassword = MASKED_PASSWORD;
  if (g.lock) config.lock = g.lock;
  if (g.template) config.template = 1;
  config.digest = createHash('sha1').update(JSON.stringify(g.config)).digest('hex');
  return config;
}
