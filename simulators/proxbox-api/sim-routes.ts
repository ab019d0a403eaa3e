import { Hono, type Context } from 'hono';
import { z } from 'zod';
import { DeletionState, GuestKind } from '../../contracts/proxbox-api';
import type { FakeProxmox } from './fake-proxmox';
import type { Capabilities } from './openapi';

const GuestStatus = z.enum(['running', 'stopped', 'paused', 'suspended', 'prelaunch']);
const ConfigMap = z.record(z.string(), z.union([z.string(), z.number()]));

const EndpointSeed = z.object({
  id: z.int().positive().optional(),
  name: z.string().min(1),
  cluster: z.string().nullable().optional(),
  ip_address: z.string().nullable().optional(),
  domain: z.string().nullable().optional(),
  port: z.int().optional(),
  username: z.string().optional(),
  token_name: z.string().optional(),
  verify_ssl: z.boolean().optional(),
  enabled: z.boolean().optional(),
  allow_writes: z.boolean().optional(),
  reachable: z.boolean().optional(),
  site_id: z.int().nullable().optional(),
  site_slug: z.string().nullable().optional(),
  site_name: z.string().nullable().optional(),
  tenant_id: z.int().nullable().optional(),
  tenant_slug: z.string().nullable().optional(),
  tenant_name: z.string().nullable().optional(),
});
const EndpointPatch = EndpointSeed.omit({ id: true }).partial();
const NodeSeed = z.object({ endpointId: z.int().optional(), name: z.string().min(1), status: z.enum(['online', 'offline']).optional() });
const NodeStatus = z.object({ endpointId: z.int().optional(), status: z.enum(['online', 'offline']) });
const StorageSeed = z.object({
  endpointId: z.int().optional(),
  node: z.string(),
  storage: z.string(),
  plugintype: z.string().optional(),
  content: z.array(z.string()),
  volumes: z.array(z.string()).optional(),
});
const GuestSeed = z.object({
  endpointId: z.int().optional(),
  vmid: z.int().min(100),
  node: z.string(),
  type: GuestKind,
  name: z.string().optional(),
  status: GuestStatus.optional(),
  lock: z.string().nullable().optional(),
  template: z.boolean().optional(),
  cores: z.int().optional(),
  memory: z.int().optional(),
  tags: z.union([z.array(z.string()), z.string()]).optional(),
  config: ConfigMap.optional(),
});
const GuestPatch = z.object({
  endpointId: z.int().optional(),
  status: GuestStatus.optional(),
  lock: z.string().nullable().optional(),
  node: z.string().optional(),
  config: z.record(z.string(), z.union([z.string(), z.number(), z.null()])).optional(),
});
const DeletionSeed = z.object({
  id: z.int().positive().optional(),
  endpoint_id: z.int(),
  vmid: z.int(),
  node: z.string(),
  kind: GuestKind,
  state: DeletionState.optional(),
  requested_by: z.string().nullable().optional(),
  client_ref: z.string().nullable().optional(),
});
const Count = z.object({ count: z.int().min(1).default(1) });
const TaskFailure = z.object({ exitstatus: z.string().min(1), count: z.int().min(1).default(1) });
const PveFault = z.object({ method: z.string().optional(), path: z.string().min(1), status: z.int().optional(), message: z.string(), times: z.int().min(1).optional() });
const ApiKeys = z.object({ keys: z.array(z.string()) });
const CapabilityPatch = z.object({ registerDeletion: z.boolean().optional(), taskStatus: z.boolean().optional() });

export interface SimRouteDeps {
  cluster: FakeProxmox;
  capabilities: Capabilities;
  setApiKeys(keys: string[]): void;
}

/** Parses a control body; seeding mistakes answer 400 with a readable message, like the shared control routes. */
function handler<S extends z.ZodType>(schema: S, run: (body: z.infer<S>, c: Context) => unknown) {
  return async (c: Context) => {
    const parsed = schema.safeParse(await c.req.json().catch(() => ({})));
    if (!parsed.success) return c.json({ error: z.prettifyError(parsed.error) }, 400);
    try {
      const out = run(parsed.data, c);
      return out === undefined ? c.body(null, 204) : c.json(out as object, 201);
    } catch (e) {
      return c.json({ error: e instanceof Error ? e.message : String(e) }, 400);
    }
  };
}

const endpointQuery = (c: Context) => (c.req.query('endpointId') ? Number(c.req.query('endpointId')) : undefined);

/** Simulator-specific `/_sim/` routes: seed and inspect the fake cluster from another process. */
export function simRoutes(deps: SimRouteDeps): Hono {
  const { cluster } = deps;
  const app = new Hono();
  app.get('/state', (c) => c.json(cluster.snapshot()));
  app.get('/pve-log', (c) => c.json(cluster.pveLog));
  app.get('/node-concurrency', (c) => c.json(cluster.maxConcurrentTasksPerNode()));
  app.delete('/pve-log', (c) => { cluster.clearPveLog(); return c.body(null, 204); });
  app.get('/journal', (c) => c.json(cluster.journal.entries));
  app.post('/journal/failures', handler(Count, (b) => { cluster.failJournalWrites(b.count); }));
  app.post('/demo', handler(z.object({}), () => { cluster.seedDemoCluster(); }));

  app.post('/endpoints', handler(EndpointSeed, (b) => cluster.addEndpoint(b)));
  app.patch('/endpoints/:id', handler(EndpointPatch, (b, c) => cluster.updateEndpoint(Number(c.req.param('id')), b)));
  app.post('/nodes', handler(NodeSeed, (b) => cluster.addNode(b)));
  app.patch('/nodes/:name', handler(NodeStatus, (b, c) => { cluster.setNodeStatus(c.req.param('name') ?? '', b.status, b.endpointId); }));
  app.post('/storages', handler(StorageSeed, (b) => cluster.addStorage(b)));

  app.post('/guests', handler(GuestSeed, (b) => cluster.addGuest(b)));
  app.get('/guests/:vmid', (c) => {
    const guest = cluster.getGuest(Number(c.req.param('vmid')), endpointQuery(c));
    return guest ? c.json(guest) : c.json({ error: 'no such guest' }, 404);
  });
  app.patch('/guests/:vmid', handler(GuestPatch, (b, c) => {
    const vmid = Number(c.req.param('vmid'));
    if (b.node !== undefined) cluster.moveGuest(vmid, b.node, b.endpointId);
    if (b.status !== undefined) cluster.setGuestStatus(vmid, b.status, b.endpointId);
    if (b.lock !== undefined) cluster.setGuestLock(vmid, b.lock, b.endpointId);
    if (b.config !== undefined) cluster.updateGuestConfig(vmid, b.config, b.endpointId);
    return cluster.getGuest(vmid, b.endpointId);
  }));
  app.delete('/guests/:vmid', (c) => {
    try {
      cluster.removeGuest(Number(c.req.param('vmid')), endpointQuery(c));
      return c.body(null, 204);
    } catch (e) {
      return c.json({ error: e instanceof Error ? e.message : String(e) }, 404);
    }
  });

  app.post('/deletion-requests', handler(DeletionSeed, (b) => cluster.seedDeletionRecord(b)));
  app.get('/deletion-requests/:id', (c) => {
    const record = cluster.getDeletionRecord(Number(c.req.param('id')));
    return record ? c.json(record) : c.json({ error: 'no such deletion request' }, 404);
  });

  app.post('/pve-faults', handler(PveFault, (b) => { cluster.injectPveError(b); }));
  app.post('/task-failures', handler(TaskFailure, (b) => { cluster.failNextTasks(b.exitstatus, b.count); }));
  app.post('/api-keys', handler(ApiKeys, (b) => { deps.setApiKeys(b.keys); }));
  app.post('/capabilities', handler(CapabilityPatch, (b) => { Object.assign(deps.capabilities, b); }));
  return app;
}
