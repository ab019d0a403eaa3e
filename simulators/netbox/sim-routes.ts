/**
 * `/_sim/...` routes that drive the model from another process (the dev stack's demo script, e2e tests).
 * Branches come back in their REST representation; objects as `{id, object_type, data}` in change-data form.
 */
import type { Context } from 'hono';
import { Hono } from 'hono';
import { z } from 'zod';
import { BranchStatus } from '../../contracts/netbox';
import { buildDemoBranch, seedDemo } from './demo';
import { CUSTOM_FIELD_TYPES, OBJECT_KINDS, SimulatorError, type NetboxModel, type ObjectKind, type StoredObject } from './model';
import { RestRenderer } from './rest';

export interface SimHost { model: NetboxModel; baseUrlFor(requestUrl: string): string }

const Json = z.record(z.string(), z.unknown());
const CreateBranch = z.object({
  name: z.string().min(1), owner: z.string().optional(), description: z.string().optional(), comments: z.string().optional(),
  customFields: Json.optional(), schemaId: z.string().optional(), id: z.number().int().positive().optional(),
});
const PatchBranch = z.object({
  name: z.string().min(1).optional(), description: z.string().optional(), comments: z.string().optional(),
  customFields: Json.optional(), status: BranchStatus.optional(),
});
const WebhookTargetBody = z.object({
  url: z.url(), secret: z.string().optional(), additionalHeaders: z.record(z.string(), z.string()).optional(),
  onlyOptedIn: z.boolean().optional(), actionData: Json.optional(),
});
const Count = z.object({ count: z.number().int().min(0) });
const Username = z.object({ username: z.string().min(1).optional() }).optional();
const SendBody = z.object({
  target: WebhookTargetBody,
  body: z.union([z.string(), Json]),
  signature: z.string().nullable().optional(),
  headers: z.record(z.string(), z.string()).optional(),
});

const PATHS: Record<string, ObjectKind> = { vms: 'vm', 'virtual-disks': 'disk', interfaces: 'interface' };

async function body<T extends z.ZodType>(c: Context, schema: T): Promise<z.infer<T>> {
  const raw: unknown = await c.req.json().catch(() => undefined);
  const parsed = schema.safeParse(raw);
  if (!parsed.success) throw new SimulatorError(400, { error: z.prettifyError(parsed.error) });
  return parsed.data;
}

function num(c: Context, name: string): number {
  const raw = c.req.param(name) ?? '';
  if (!/^\d+$/.test(raw)) throw new SimulatorError(404, { detail: 'Not found.' });
  return Number(raw);
}

function kindOf(c: Context): ObjectKind {
  const kind = PATHS[c.req.param('kind') ?? ''];
  if (!kind) throw new SimulatorError(404, { detail: 'Not found.' });
  return kind;
}

const objectJson = (o: StoredObject) => ({ id: o.pk, object_type: OBJECT_KINDS[o.kind].objectType, data: o.data });

export function simRoutes(host: SimHost): Hono {
  const { model } = host;
  const app = new Hono();
  const rest = (c: Context) => new RestRenderer(model, host.baseUrlFor(c.req.url));

  app.get('/state', (c) => {
    const r = rest(c);
    return c.json({
      version: model.version,
      branches: [...model.branches.values()].map((b) => r.branch(b)),
      main: Object.fromEntries((Object.keys(OBJECT_KINDS) as ObjectKind[]).map((k) => [OBJECT_KINDS[k].objectType, model.view(null).list(k).map(objectJson)])),
      webhookTargets: model.webhooks.targets,
      pendingDeliveries: model.webhooks.pending,
    });
  });

  app.post('/users', async (c) => c.json(model.addUser(await body(c, z.object({
    username: z.string().min(1), id: z.number().int().positive().optional(), isActive: z.boolean().optional(),
    firstName: z.string().optional(), lastName: z.string().optional(), email: z.string().optional(),
  }))), 201));
  app.post('/clusters', async (c) => c.json(model.addCluster(await body(c, z.object({ name: z.string().min(1), id: z.number().int().positive().optional() }))), 201));
  app.post('/device-roles', async (c) => c.json(model.addDeviceRole(await body(c, z.object({
    name: z.string().min(1), slug: z.string().optional(), id: z.number().int().positive().optional(),
  }))), 201));
  app.post('/vm-types', async (c) => c.json(model.addVmType(await body(c, z.object({
    name: z.string().min(1), slug: z.string().optional(), id: z.number().int().positive().optional(),
  }))), 201));
  app.post('/custom-fields', async (c) => c.json(model.addCustomField(await body(c, z.object({
    name: z.string().min(1), type: z.enum(CUSTOM_FIELD_TYPES),
    objectTypes: z.array(z.string()).min(1), label: z.string().optional(),
  }))), 201));
  app.delete('/custom-fields/:name', (c) => (model.removeCustomField(c.req.param('name')) ? c.body(null, 204) : c.json({ detail: 'Not found.' }, 404)));

  app.post('/mac-addresses', async (c) => c.json(model.addMacAddress(await body(c, z.object({
    mac_address: z.string(), assigned_object_id: z.number().int().positive().nullable().optional(), id: z.number().int().positive().optional(),
  }))), 201));
  app.post('/vlans', async (c) => c.json(model.addVlan(await body(c, z.object({
    vid: z.number().int(), name: z.string().min(1), id: z.number().int().positive().optional(),
  }))), 201));

  // Main, edited directly (not through a branch).
  app.post('/main/:kind', async (c) => {
    const kind = kindOf(c);
    const data = await body(c, Json);
    const created = kind === 'vm'
      ? model.createObject(null, 'vm', data as never)
      : model.createObject(null, kind as 'disk', data as never);
    return c.json(objectJson(created), 201);
  });
  app.patch('/main/:kind/:pk', async (c) => c.json(objectJson(model.updateObject(null, kindOf(c), num(c, 'pk'), await body(c, Json)))));
  app.delete('/main/:kind/:pk', (c) => { model.deleteObject(null, kindOf(c), num(c, 'pk')); return c.body(null, 204); });

  // Branches.
  app.post('/branches', async (c) => c.json(rest(c).branch(model.createBranch(await body(c, CreateBranch))), 201));
  app.patch('/branches/:id', async (c) => {
    const { status, ...patch } = await body(c, PatchBranch);
    const id = num(c, 'id');
    model.updateBranch(id, patch);
    if (status) model.setBranchStatus(id, status);
    return c.json(rest(c).branch(model.branch(id)));
  });
  app.delete('/branches/:id', (c) => { model.deleteBranch(num(c, 'id')); return c.body(null, 204); });
  app.post('/branches/:id/merge', async (c) => {
    const { username } = await body(c, z.object({ username: z.string().min(1) }));
    const { branch, deliveries } = await model.mergeBranch(num(c, 'id'), username);
    return c.json({ branch: rest(c).branch(branch), deliveries });
  });
  app.post('/branches/:id/revert', async (c) => c.json(rest(c).branch(model.revertBranch(num(c, 'id'), (await body(c, Username))?.username))));
  app.post('/branches/:id/archive', async (c) => c.json(rest(c).branch(model.archiveBranch(num(c, 'id'), (await body(c, Username))?.username))));
  app.post('/branches/:id/:kind', async (c) => {
    const kind = kindOf(c);
    const created = model.createObject(num(c, 'id'), kind as 'vm', (await body(c, Json)) as never);
    return c.json(objectJson(created), 201);
  });
  app.patch('/branches/:id/:kind/:pk', async (c) => c.json(objectJson(model.updateObject(num(c, 'id'), kindOf(c), num(c, 'pk'), await body(c, Json)))));
  app.delete('/branches/:id/:kind/:pk', (c) => { model.deleteObject(num(c, 'id'), kindOf(c), num(c, 'pk')); return c.body(null, 204); });

  // Webhooks.
  app.get('/webhook-targets', (c) => c.json(model.webhooks.targets));
  app.post('/webhook-targets', async (c) => c.json(model.webhooks.addTarget(await body(c, WebhookTargetBody)), 201));
  app.delete('/webhook-targets/:id', (c) => (model.webhooks.removeTarget(num(c, 'id')) ? c.body(null, 204) : c.json({ detail: 'Not found.' }, 404)));
  app.get('/deliveries', (c) => c.json(model.webhooks.deliveries));
  app.post('/deliveries/drop', async (c) => { model.webhooks.dropNext((await body(c, Count)).count); return c.body(null, 204); });
  app.post('/deliveries/duplicate', async (c) => { model.webhooks.duplicateNext((await body(c, Count)).count); return c.body(null, 204); });
  app.post('/deliveries/pause', (c) => { model.webhooks.pause(); return c.body(null, 204); });
  app.post('/deliveries/resume', async (c) => c.json(await model.webhooks.resume()));
  app.post('/webhooks/send', async (c) => {
    const { target, body: payload, signature, headers } = await body(c, SendBody);
    return c.json(await model.webhooks.send(target, payload, { ...(signature !== undefined ? { signature } : {}), ...(headers ? { headers } : {}) }));
  });

  // Demo.
  app.post('/demo/seed', (c) => { seedDemo(model); return c.body(null, 204); });
  app.post('/demo/branch', async (c) => {
    const opts = (await body(c, z.object({ name: z.string().min(1).optional(), owner: z.string().optional() }).optional())) ?? {};
    const { branch, web03, cache01 } = buildDemoBranch(model, opts);
    return c.json({ branch: rest(c).branch(branch), web03: objectJson(web03), cache01: objectJson(cache01) }, 201);
  });

  return app;
}
