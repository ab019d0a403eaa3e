import type { DeletionRecord, ProxmoxEndpointInfo } from '../../contracts/proxbox-api';
import { DeletionStore, type DeletionSeed, type StoredDeletion } from './deletion-store';
import { seedDemoCluster } from './demo';
import { AuditJournal } from './journal';
import { PveConnectionError, PveError } from './pve-errors';
import { PveApi } from './pve-api';
import { formatUpid } from './upid';

export type GuestType = 'qemu' | 'lxc';
export type GuestStatus = 'running' | 'stopped' | 'paused' | 'suspended' | 'prelaunch';
export type NodeStatus = 'online' | 'offline';
export type ConfigValue = string | number;

/** A proxbox-api endpoint row plus the Proxmox cluster behind it. */
export interface FakeEndpoint extends ProxmoxEndpointInfo {
  /** Cluster name; null for a standalone host, whose cluster map key is its node name. */
  cluster: string | null;
  /** API token name; tasks run as `<username>!<token_name>`. */
  token_name: string;
  /** When false, logging in fails and no request reaches Proxmox. */
  reachable: boolean;
}

export type EndpointSeed = Partial<Omit<FakeEndpoint, 'name'>> & { name: string };

export interface FakeNode { endpointId: number; name: string; status: NodeStatus }

export interface FakeVolume { volid: string; content: string; format: string; size: number }

export interface FakeStorage {
  endpointId: number;
  node: string;
  storage: string;
  plugintype: string;
  content: string[];
  volumes: FakeVolume[];
}

export interface StorageSeed {
  endpointId?: number;
  node: string;
  storage: string;
  plugintype?: string;
  content: string[];
  /** volids such as `local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst`, or full volume objects */
  volumes?: (string | FakeVolume)[];
}

export interface FakeGuest {
  endpointId: number;
  vmid: number;
  node: string;
  type: GuestType;
  status: GuestStatus;
  lock: string | null;
  template: boolean;
  /** Proxmox config keys (name or hostname, cores, memory, tags, disks, NICs, ci*...) */
  config: Record<string, ConfigValue>;
  /** A destroy task is running: Proxmox holds the config file lock. */
  destroying: boolean;
  startedAt: number | null;
}

export interface GuestSeed {
  endpointId?: number;
  vmid: number;
  node: string;
  type: GuestType;
  name?: string;
  status?: GuestStatus;
  lock?: string | null;
  template?: boolean;
  cores?: number;
  memory?: number;
  tags?: string[] | string;
  config?: Record<string, ConfigValue>;
}

export interface GuestView extends Omit<FakeGuest, 'destroying' | 'startedAt'> { name: string | null }

export interface FakeTask {
  upid: string;
  endpointId: number;
  node: string;
  type: string;
  id: string;
  user: string;
  pid: number;
  pstart: number;
  starttime: number;
  status: 'running' | 'stopped';
  exitstatus: string | null;
  /** Epoch ms the task started and ends (Proxmox itself gives seconds only: `starttime`). */
  startedAt: number;
  endsAt: number;
  outcome: string;
  onFinish: (exitstatus: string) => void;
}

export type TaskView = Omit<FakeTask, 'onFinish'>;

/** One request that reached (fake) Proxmox, e.g. `PUT nodes/pve01/qemu/101/config {cores: 4}`. */
export interface PveLogEntry {
  seq: number;
  at: number;
  endpointId: number;
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  path: string;
  params: Record<string, unknown>;
  error?: string;
}

export interface PveFaultSeed {
  method?: string;
  /** regular expression matched against the Proxmox path, e.g. `^nodes/pve01/qemu$` */
  path: string;
  status?: number;
  message: string;
  times?: number;
}

interface PveFault { method?: string; pattern: RegExp; status: number; message: string; remaining: number }

const MAX_LOG = 50_000;

/** In-memory Proxmox clusters behind proxbox-api endpoints, plus proxbox-api's own records and the NetBox journal. */
export class FakeProxmox {
  readonly journal = new AuditJournal();
  readonly deletions = new DeletionStore();
  readonly pveLog: PveLogEntry[] = [];
  taskDurationMs: number;

  private endpoints = new Map<number, FakeEndpoint>();
  private nodes: FakeNode[] = [];
  private storages: FakeStorage[] = [];
  private guests: FakeGuest[] = [];
  private tasks: FakeTask[] = [];
  private faults: PveFault[] = [];
  private taskFailures: string[] = [];
  private logSeq = 0;
  private pid = 0x3a1f0;
  private pstart = 0x0c4f5e00;

  constructor(opts: { taskDurationMs?: number } = {}) {
    this.taskDurationMs = opts.taskDurationMs ?? 0;
  }

  /** See `seedDemoCluster` in ./demo. */
  seedDemoCluster(): void {
    seedDemoCluster(this);
  }

  reset(): void {
    this.endpoints.clear();
    this.nodes = [];
    this.storages = [];
    this.guests = [];
    this.tasks = [];
    this.faults = [];
    this.taskFailures = [];
    this.pveLog.length = 0;
    this.logSeq = 0;
    this.journal.reset();
    this.deletions.reset();
  }

  // ------------------------------------------------------------------------------------------
  // Endpoints

  addEndpoint(seed: EndpointSeed): FakeEndpoint {
    const id = seed.id ?? Math.max(0, ...this.endpoints.keys()) + 1;
    if (this.endpoints.has(id)) throw new Error(`endpoint ${id} already exists`);
    const endpoint: FakeEndpoint = {
      id, name: seed.name, ip_address: seed.ip_address ?? `192.0.2.${10 + id}`, domain: seed.domain ?? null,
      port: seed.port ?? 8006, username: seed.username ?? 'proxbox@pve', verify_ssl: seed.verify_ssl ?? false,
      enabled: seed.enabled ?? true, allow_writes: seed.allow_writes ?? false,
      access_methods: seed.access_methods ?? { api: true, ssh: false },
      site_id: seed.site_id ?? null, site_slug: seed.site_slug ?? null, site_name: seed.site_name ?? null,
      tenant_id: seed.tenant_id ?? null, tenant_slug: seed.tenant_slug ?? null, tenant_name: seed.tenant_name ?? null,
      timeout: seed.timeout ?? 30, max_retries: seed.max_retries ?? 3, retry_backoff: seed.retry_backoff ?? 0.5,
      cluster: seed.cluster === undefined ? `${seed.name}-cluster` : seed.cluster,
      token_name: seed.token_name ?? 'api', reachable: seed.reachable ?? true,
    };
    this.endpoints.set(id, endpoint);
    return { ...endpoint };
  }

  updateEndpoint(id: number, patch: Partial<Omit<FakeEndpoint, 'id'>>): FakeEndpoint {
    const endpoint = this.endpoints.get(id);
    if (!endpoint) throw new Error(`no endpoint ${id}`);
    Object.assign(endpoint, patch);
    return { ...endpoint };
  }

  getEndpoint(id: number): FakeEndpoint | undefined {
    const e = this.endpoints.get(id);
    return e && { ...e };
  }

  listEndpoints(): FakeEndpoint[] {
    return [...this.endpoints.values()].sort((a, b) => a.id - b.id).map((e) => ({ ...e }));
  }

  /** The key of this endpoint's entry in a proxbox-api.md §8.1 cluster map. */
  clusterKey(endpointId: number): string {
    const e = this.requireEndpoint(endpointId);
    return e.cluster ?? this.nodes.find((n) => n.endpointId === endpointId)?.name ?? e.name;
  }

  /** Opens a Proxmox API session for an endpoint; fails when the endpoint is unreachable. */
  connect(endpointId: number): PveApi {
    const endpoint = this.requireEndpoint(endpointId);
    if (!endpoint.reachable) throw new PveConnectionError(endpoint.name, endpoint.domain ?? endpoint.ip_address ?? '?', endpoint.port);
    return new PveApi(this, endpoint);
  }

  private requireEndpoint(id: number): FakeEndpoint {
    const e = this.endpoints.get(id);
    if (!e) throw new Error(`no endpoint ${id}`);
    return e;
  }

  private endpointIdOf(explicit: number | undefined): number {
    if (explicit !== undefined) {
      this.requireEndpoint(explicit);
      return explicit;
    }
    const first = this.listEndpoints()[0];
    if (!first) throw new Error('add an endpoint first');
    return first.id;
  }

  // ------------------------------------------------------------------------------------------
  // Nodes and storage

  addNode(seed: { endpointId?: number; name: string; status?: NodeStatus }): FakeNode {
    const endpointId = this.endpointIdOf(seed.endpointId);
    if (this.findNode(endpointId, seed.name)) throw new Error(`node ${seed.name} already exists`);
    const node: FakeNode = { endpointId, name: seed.name, status: seed.status ?? 'online' };
    this.nodes.push(node);
    return { ...node };
  }

  setNodeStatus(name: string, status: NodeStatus, endpointId?: number): void {
    const node = this.findNode(this.endpointIdOf(endpointId), name);
    if (!node) throw new Error(`no node ${name}`);
    node.status = status;
  }

  findNode(endpointId: number, name: string): FakeNode | undefined {
    return this.nodes.find((n) => n.endpointId === endpointId && n.name === name);
  }

  nodesOf(endpointId: number): FakeNode[] {
    return this.nodes.filter((n) => n.endpointId === endpointId);
  }

  addStorage(seed: StorageSeed): FakeStorage {
    const endpointId = this.endpointIdOf(seed.endpointId);
    if (!this.findNode(endpointId, seed.node)) throw new Error(`no node ${seed.node}`);
    if (this.findStorage(endpointId, seed.node, seed.storage)) throw new Error(`storage ${seed.storage} already exists on ${seed.node}`);
    const storage: FakeStorage = {
      endpointId, node: seed.node, storage: seed.storage,
      plugintype: seed.plugintype ?? (seed.content.includes('images') ? 'lvmthin' : 'dir'),
      content: [...seed.content], volumes: [],
    };
    this.storages.push(storage);
    for (const v of seed.volumes ?? []) this.addVolume(seed.node, seed.storage, v, endpointId);
    return storage;
  }

  addVolume(node: string, storageName: string, volume: string | FakeVolume, endpointId?: number): FakeVolume {
    const storage = this.findStorage(this.endpointIdOf(endpointId), node, storageName);
    if (!storage) throw new Error(`no storage ${storageName} on ${node}`);
    const v = typeof volume === 'string' ? volumeFromVolid(volume) : { ...volume };
    storage.volumes.push(v);
    return v;
  }

  findStorage(endpointId: number, node: string, storage: string): FakeStorage | undefined {
    return this.storages.find((s) => s.endpointId === endpointId && s.node === node && s.storage === storage);
  }

  storagesOf(endpointId: number): FakeStorage[] {
    return this.storages.filter((s) => s.endpointId === endpointId);
  }

  // ------------------------------------------------------------------------------------------
  // Guests

  addGuest(seed: GuestSeed): GuestView {
    const endpointId = this.endpointIdOf(seed.endpointId);
    if (!this.findNode(endpointId, seed.node)) throw new Error(`no node ${seed.node}`);
    const existing = this.findGuest(endpointId, seed.vmid);
    if (existing) throw new Error(`vmid ${seed.vmid} already exists on ${existing.node}`);
    const config: Record<string, ConfigValue> = {};
    if (seed.name !== undefined) config[seed.type === 'qemu' ? 'name' : 'hostname'] = seed.name;
    if (seed.cores !== undefined) config.cores = seed.cores;
    if (seed.memory !== undefined) config.memory = seed.memory;
    if (seed.tags !== undefined) config.tags = Array.isArray(seed.tags) ? seed.tags.join(';') : seed.tags;
    Object.assign(config, seed.config ?? {});
    const status = seed.status ?? 'stopped';
    const guest: FakeGuest = {
      endpointId, vmid: seed.vmid, node: seed.node, type: seed.type, status, lock: seed.lock ?? null,
      template: seed.template ?? false, config, destroying: false, startedAt: status === 'running' ? Date.now() : null,
    };
    this.guests.push(guest);
    return viewOf(guest);
  }

  /** Seeds or changes the run state. Nothing in proxbox-api ever starts or stops a guest. */
  setGuestStatus(vmid: number, status: GuestStatus, endpointId?: number): GuestView {
    const guest = this.requireGuest(vmid, endpointId);
    guest.status = status;
    guest.startedAt = status === 'running' ? Date.now() : null;
    return viewOf(guest);
  }

  setGuestLock(vmid: number, lock: string | null, endpointId?: number): GuestView {
    const guest = this.requireGuest(vmid, endpointId);
    guest.lock = lock;
    return viewOf(guest);
  }

  /** Migrates a guest, e.g. to simulate a TOCTOU move between plan and apply. */
  moveGuest(vmid: number, node: string, endpointId?: number): GuestView {
    const guest = this.requireGuest(vmid, endpointId);
    if (!this.findNode(guest.endpointId, node)) throw new Error(`no node ${node}`);
    guest.node = node;
    return viewOf(guest);
  }

  updateGuestConfig(vmid: number, patch: Record<string, ConfigValue | null>, endpointId?: number): GuestView {
    const guest = this.requireGuest(vmid, endpointId);
    for (const [k, v] of Object.entries(patch)) {
      if (v === null) delete guest.config[k];
      else guest.config[k] = v;
    }
    return viewOf(guest);
  }

  removeGuest(vmid: number, endpointId?: number): void {
    const guest = this.requireGuest(vmid, endpointId);
    this.guests = this.guests.filter((g) => g !== guest);
  }

  getGuest(vmid: number, endpointId?: number): GuestView | undefined {
    this.settle();
    const guest = this.findGuest(this.endpointIdOf(endpointId), vmid);
    return guest && viewOf(guest);
  }

  listGuests(endpointId?: number): GuestView[] {
    this.settle();
    return this.guests.filter((g) => endpointId === undefined || g.endpointId === endpointId).map(viewOf);
  }

  findGuest(endpointId: number, vmid: number): FakeGuest | undefined {
    return this.guests.find((g) => g.endpointId === endpointId && g.vmid === vmid);
  }

  guestsOf(endpointId: number): FakeGuest[] {
    return this.guests.filter((g) => g.endpointId === endpointId);
  }

  insertGuest(guest: FakeGuest): void {
    this.guests.push(guest);
  }

  deleteGuest(guest: FakeGuest): void {
    this.guests = this.guests.filter((g) => g !== guest);
  }

  private requireGuest(vmid: number, endpointId?: number): FakeGuest {
    this.settle();
    const guest = this.findGuest(this.endpointIdOf(endpointId), vmid);
    if (!guest) throw new Error(`no guest ${vmid}`);
    return guest;
  }

  // ------------------------------------------------------------------------------------------
  // Tasks

  /** The next `count` tasks end with this exit status instead of `OK` (a failed create leaves no guest). */
  failNextTasks(exitstatus: string, count = 1): void {
    for (let i = 0; i < count; i++) this.taskFailures.push(exitstatus);
  }

  startTask(endpoint: FakeEndpoint, node: string, type: string, id: string, onFinish: (exitstatus: string) => void): FakeTask {
    this.pid += 0x1a3;
    this.pstart += 0x3c;
    const starttime = Math.floor(Date.now() / 1000);
    const user = endpoint.username.includes('!') ? endpoint.username : `${endpoint.username}!${endpoint.token_name}`;
    const task: FakeTask = {
      upid: formatUpid({ node, pid: this.pid, pstart: this.pstart, starttime, type, id, user }),
      endpointId: endpoint.id, node, type, id, user, pid: this.pid, pstart: this.pstart, starttime,
      status: 'running', exitstatus: null, startedAt: Date.now(), endsAt: Date.now() + this.taskDurationMs,
      outcome: this.taskFailures.shift() ?? 'OK', onFinish,
    };
    this.tasks.push(task);
    this.settle();
    return task;
  }

  findTask(endpointId: number, upid: string): FakeTask | undefined {
    this.settle();
    return this.tasks.find((t) => t.endpointId === endpointId && t.upid === upid);
  }

  listTasks(): TaskView[] {
    this.settle();
    return this.tasks.map(({ onFinish: _f, ...t }) => ({ ...t }));
  }

  /**
   * The most Proxmox tasks (creates, destroys) that ran at the same moment on each node, over every task since the
   * last reset: how a benchmark sees the per-node write cap from the cluster's side. A write holds its node slot
   * from before its request until after its task ends, so this never exceeds the writes the service ran at once.
   */
  maxConcurrentTasksPerNode(): Record<string, number> {
    const edges = new Map<string, { at: number; delta: number }[]>();
    for (const t of this.tasks) {
      const key = `${t.endpointId}/${t.node}`;
      const list = edges.get(key) ?? [];
      // A task that ends at the moment another starts did not overlap it: ends sort before starts.
      list.push({ at: t.startedAt, delta: 1 }, { at: Math.max(t.endsAt, t.startedAt + 1), delta: -1 });
      edges.set(key, list);
    }
    const out: Record<string, number> = {};
    for (const [key, list] of edges) {
      list.sort((a, b) => a.at - b.at || a.delta - b.delta);
      let now = 0;
      let max = 0;
      for (const e of list) { now += e.delta; max = Math.max(max, now); }
      out[key] = max;
    }
    return out;
  }

  /** Finishes every task whose time is up. Called lazily before state is read. */
  settle(): void {
    const now = Date.now();
    for (const task of this.tasks) {
      if (task.status === 'running' && task.endsAt <= now) {
        task.status = 'stopped';
        task.exitstatus = task.outcome;
        task.onFinish(task.outcome);
      }
    }
  }

  // ------------------------------------------------------------------------------------------
  // Request log and injected Proxmox errors

  logPve(endpointId: number, method: PveLogEntry['method'], path: string, params: Record<string, unknown>): PveLogEntry {
    const entry: PveLogEntry = { seq: ++this.logSeq, at: Date.now(), endpointId, method, path, params: { ...params } };
    this.pveLog.push(entry);
    if (this.pveLog.length > MAX_LOG) this.pveLog.splice(0, this.pveLog.length - MAX_LOG);
    return entry;
  }

  /** Proxmox requests, optionally only those with this method and a path matching the pattern. */
  pveCalls(method?: string, path?: string | RegExp): PveLogEntry[] {
    const pattern = typeof path === 'string' ? new RegExp(`^${path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`) : path;
    return this.pveLog.filter((e) => (!method || e.method === method.toUpperCase()) && (!pattern || pattern.test(e.path)));
  }

  /** Proxmox writes only (POST, PUT, DELETE). */
  pveWrites(): PveLogEntry[] {
    return this.pveLog.filter((e) => e.method !== 'GET');
  }

  clearPveLog(): void {
    this.pveLog.length = 0;
  }

  injectPveError(seed: PveFaultSeed): void {
    this.faults.push({
      method: seed.method?.toUpperCase(), pattern: new RegExp(seed.path), status: seed.status ?? 500,
      message: seed.message, remaining: seed.times ?? 1,
    });
  }

  takePveFault(method: string, path: string): PveError | undefined {
    const hit = this.faults.find((f) => f.remaining > 0 && (!f.method || f.method === method) && f.pattern.test(path));
    if (!hit) return undefined;
    hit.remaining -= 1;
    return new PveError(hit.status, hit.message);
  }

  // ------------------------------------------------------------------------------------------
  // proxbox-api records and the NetBox journal

  seedDeletionRecord(seed: DeletionSeed): DeletionRecord {
    return { ...this.deletions.create(seed) };
  }

  getDeletionRecord(id: number): StoredDeletion | undefined {
    const r = this.deletions.get(id);
    return r && { ...r };
  }

  failJournalWrites(count: number): void {
    this.journal.failNext(count);
  }

  snapshot() {
    this.settle();
    return {
      endpoints: this.listEndpoints(),
      nodes: this.nodes.map((n) => ({ ...n })),
      storages: this.storages.map((s) => ({ ...s, volumes: s.volumes.map((v) => ({ ...v })) })),
      guests: this.listGuests(),
      tasks: this.listTasks(),
      deletionRequests: this.deletions.list(),
      journalFailuresPending: this.journal.pendingFailures,
    };
  }
}

function viewOf(g: FakeGuest): GuestView {
  const name = g.config[g.type === 'qemu' ? 'name' : 'hostname'];
  return {
    endpointId: g.endpointId, vmid: g.vmid, node: g.node, type: g.type, status: g.status, lock: g.lock,
    template: g.template, config: { ...g.config }, name: name === undefined ? null : String(name),
  };
}

const FORMATS: [RegExp, string][] = [[/\.tar\.zst$/, 'tzst'], [/\.tar\.gz$/, 'tgz'], [/\.tar\.xz$/, 'txz'], [/\.iso$/, 'iso'], [/\.qcow2$/, 'qcow2']];

function volumeFromVolid(volid: string): FakeVolume {
  const content = /^[^:]+:([^/]+)\//.exec(volid)?.[1] ?? 'images';
  const format = FORMATS.find(([re]) => re.test(volid))?.[1] ?? 'raw';
  return { volid, content, format, size: 129_000_000 };
}
