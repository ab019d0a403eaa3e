/** The NetBox REST surface of netbox.md: core, virtualization and netbox-branching read endpoints. */
import type { Context } from 'hono';
import { Hono } from 'hono';
import { BranchEventType, BranchStatus, ChangeAction } from '../../contracts/netbox';
import {
  CUSTOM_FIELD_TYPES, OBJECT_KINDS, SimulatorError, type BranchRecord, type CustomFieldRecord, type NetboxModel, type ObjectKind,
  type StoredObject, type View,
} from './model';
import { applyFilters, applyOrdering, paginate, type FilterSpec } from './query';
import { validateNewCustomField } from './custom-fields';
import { RestRenderer, conflictsOf } from './rest';
import { journalRoutes } from './journal';

export interface ApiHost {
  model: NetboxModel;
  tokens: readonly string[];
  invalidTokenStatus: 401 | 403;
  baseUrlFor(requestUrl: string): string;
}

const VM_STATUSES = ['offline', 'active', 'planned', 'staged', 'failed', 'decommissioning', 'paused'] as const;
const NETBOX_VERSIONS = { '4.4': '4.4.10', '4.5': '4.5.4', '4.6': '4.6.1' } as const;

const detail = (c: Context, status: 400 | 401 | 403 | 404 | 409, text: string) => c.json({ detail: text }, status);

function authenticate(host: ApiHost, c: Context): Response | null {
  const header = c.req.header('authorization');
  if (!header) return detail(c, 403, 'Authentication credentials were not provided.');
  const [scheme = '', credential = '', ...rest] = header.trim().split(/\s+/);
  // DRF ignores schemes it does not handle, which leaves the request unauthenticated.
  if (scheme !== 'Bearer' && scheme !== 'Token') return detail(c, 403, 'Authentication credentials were not provided.');
  if (!credential || rest.length) return c.json({ detail: 'Invalid token header. Token string should not contain spaces.' }, host.invalidTokenStatus);
  const isV2 = credential.startsWith('nbt_');
  // v2 tokens are only accepted as Bearer, v1 tokens only as Token (netbox.md §1).
  const ok = host.tokens.includes(credential) && (scheme === 'Bearer') === isV2;
  if (!ok) return c.json({ detail: scheme === 'Bearer' ? 'Invalid v2 token' : 'Invalid v1 token' }, host.invalidTokenStatus);
  return null;
}

function idParam(c: Context): number {
  const raw = c.req.param('id') ?? '';
  if (!/^\d+$/.test(raw)) throw new SimulatorError(404, { detail: 'Not found.' });
  return Number(raw);
}

function found<T>(value: T | undefined, model: string): T {
  if (value === undefined) throw new SimulatorError(404, { detail: `No ${model} matches the given query.` });
  return value;
}

const intRef = (exists: (id: number) => boolean) => (raw: string) => (exists(Number(raw)) ? Number(raw) : undefined);

function customFieldFilters<T>(cfs: CustomFieldRecord[], get: (item: T) => Record<string, unknown>): Record<string, FilterSpec<T>> {
  const out: Record<string, FilterSpec<T>> = {};
  for (const cf of cfs) {
    const value = (item: T) => get(item)[cf.name];
    if (cf.type === 'boolean') out[`cf_${cf.name}`] = { type: 'boolean', get: (i) => (typeof value(i) === 'boolean' ? (value(i) as boolean) : null) };
    else if (cf.type === 'integer') out[`cf_${cf.name}`] = { type: 'number', get: (i) => (typeof value(i) === 'number' ? (value(i) as number) : null) };
    else out[`cf_${cf.name}`] = { type: 'exact', get: (i) => value(i) as string | null };
  }
  return out;
}

export function apiRoutes(host: ApiHost): Hono {
  const { model } = host;
  const app = new Hono();
  const rest = (c: Context) => new RestRenderer(model, host.baseUrlFor(c.req.url));

  app.use('*', async (c, next) => {
    const denied = authenticate(host, c);
    if (denied) return denied;
    const path = new URL(c.req.url).pathname;
    // Django's APPEND_SLASH: every NetBox API path ends with a slash.
    if (!path.endsWith('/') && c.req.method === 'GET') {
      const url = new URL(c.req.url);
      return c.redirect(`${path}/${url.search}`, 301);
    }
    return next();
  });

  /** The objects as main, or an unmerged branch named by `X-NetBox-Branch`, holds them. */
  const viewFor = (c: Context): View => {
    const schemaId = c.req.header('x-netbox-branch');
    if (schemaId === undefined) return model.view(null);
    const branch = model.branchBySchemaId(schemaId.trim());
    if (!branch) throw new SimulatorError(400, { detail: `Invalid branch identifier: ${schemaId}` });
    if (branch.status !== 'ready') throw new SimulatorError(400, { detail: `Branch ${branch.name} is not ready for use (status: ${branch.status}).` });
    return model.view(branch);
  };

  function list<T>(c: Context, items: T[], specs: Record<string, FilterSpec<T>>, ordering: Record<string, (t: T) => unknown>, defaults: string[], pk: (t: T) => number, render: (t: T) => unknown) {
    const url = new URL(c.req.url);
    const filtered = applyFilters(items, url.searchParams, specs);
    if ('errors' in filtered) return c.json(filtered.errors, 400);
    const ordered = applyOrdering(filtered.items, url.searchParams.get('ordering'), ordering, defaults, pk);
    const page = paginate(ordered, url.searchParams, host.baseUrlFor(c.req.url), url.pathname);
    return c.json({ ...page, results: page.results.map(render) });
  }

  // Status ----------------------------------------------------------------------------------------------------------

  app.get('/status/', (c) => c.json({
    'django-version': '5.2.8',
    'installed-apps': { django_filters: '25.1', django_tables2: '2.7.5', rest_framework: '3.16.1', taggit: '6.1.0' },
    'netbox-version': NETBOX_VERSIONS[model.version],
    'netbox-full-version': NETBOX_VERSIONS[model.version],
    plugins: { netbox_branching: '1.1.1' },
    'python-version': '3.12.3',
    'rq-workers-running': 1,
  }));

  // Branching -------------------------------------------------------------------------------------------------------

  const branchSpecs = (): Record<string, FilterSpec<BranchRecord>> => ({
    id: { type: 'number', get: (b) => b.id },
    name: { type: 'exact', get: (b) => b.name },
    description: { type: 'exact', get: (b) => b.description },
    q: { type: 'search', get: (b) => [b.name, b.description] },
    status: { type: 'choice', choices: BranchStatus.options, get: (b) => b.status },
    owner_id: { type: 'ref', numeric: true, get: (b) => b.ownerId, resolve: intRef((id) => model.users.has(id)) },
    owner: { type: 'ref', get: (b) => b.ownerId, resolve: (u) => model.userByName(u)?.id },
    last_sync: { type: 'datetime', get: (b) => b.lastSyncUs },
    merged_time: { type: 'datetime', get: (b) => b.mergedTimeUs },
    created: { type: 'datetime', get: (b) => b.createdUs },
    last_updated: { type: 'datetime', get: (b) => b.lastUpdatedUs },
    ...customFieldFilters<BranchRecord>(model.customFieldsFor('netbox_branching.branch'), (b) => b.customFields),
  });
  const branchOrdering: Record<string, (b: BranchRecord) => unknown> = {
    id: (b) => b.id, name: (b) => b.name, status: (b) => b.status, schema_id: (b) => b.schemaId,
    owner: (b) => b.ownerId, last_sync: (b) => b.lastSyncUs, merged_time: (b) => b.mergedTimeUs,
    created: (b) => b.createdUs, last_updated: (b) => b.lastUpdatedUs,
  };

  app.get('/plugins/branching/branches/', (c) => {
    const r = rest(c);
    return list(c, [...model.branches.values()], branchSpecs(), branchOrdering, ['name'], (b) => b.id, (b) => r.branch(b));
  });
  app.get('/plugins/branching/branches/:id/', (c) => c.json(rest(c).branch(found(model.branches.get(idParam(c)), 'Branch'))));

  app.get('/plugins/branching/branch-events/', (c) => {
    const r = rest(c);
    return list(c, [...model.events], {
      id: { type: 'number', get: (e) => e.id },
      type: { type: 'choice', choices: BranchEventType.options, get: (e) => e.type },
      time: { type: 'datetime', get: (e) => e.timeUs },
      branch_id: { type: 'ref', numeric: true, get: (e) => e.branchId, resolve: intRef((id) => model.branches.has(id)) },
      user_id: { type: 'ref', numeric: true, get: (e) => e.userId, resolve: intRef((id) => model.users.has(id)) },
    }, { id: (e) => e.id, time: (e) => e.timeUs, type: (e) => e.type }, ['-time'], (e) => e.id, (e) => r.event(e));
  });
  app.get('/plugins/branching/branch-events/:id/', (c) => {
    const id = idParam(c);
    return c.json(rest(c).event(found(model.events.find((e) => e.id === id), 'BranchEvent')));
  });

  const allDiffs = () => [...model.branches.values()].flatMap((b) => [...b.diffs.values()]);
  app.get('/plugins/branching/changes/', (c) => {
    const r = rest(c);
    type D = ReturnType<typeof allDiffs>[number];
    return list<D>(c, allDiffs(), {
      id: { type: 'number', get: (d) => d.id },
      branch_id: { type: 'ref', numeric: true, get: (d) => d.branchId, resolve: intRef((id) => model.branches.has(id)) },
      // schema_id, not pk: a pk is "not one of the available choices".
      branch: { type: 'ref', get: (d) => d.branchId, resolve: (s) => model.branchBySchemaId(s)?.id },
      object_type: { type: 'exact', caseInsensitive: true, get: (d) => OBJECT_KINDS[d.kind].objectType },
      object_type_id: { type: 'number', get: (d) => OBJECT_KINDS[d.kind].contentTypeId },
      object_id: { type: 'number', get: (d) => d.objectId },
      action: { type: 'choice', choices: ChangeAction.options, get: (d) => d.action },
      has_conflicts: { type: 'boolean', get: (d) => conflictsOf(d) !== null },
      last_updated: { type: 'datetime', get: (d) => d.lastUpdatedUs },
      q: { type: 'search', get: (d) => [d.objectRepr] },
    }, {
      id: (d) => d.id, object_repr: (d) => d.objectRepr, object_id: (d) => d.objectId, action: (d) => d.action,
      last_updated: (d) => d.lastUpdatedUs, object_type: (d) => OBJECT_KINDS[d.kind].objectType,
    }, ['-last_updated'], (d) => d.id, (d) => r.changeDiff(d));
  });
  app.get('/plugins/branching/changes/:id/', (c) => {
    const id = idParam(c);
    return c.json(rest(c).changeDiff(found(allDiffs().find((d) => d.id === id), 'ChangeDiff')));
  });

  // Virtualization (branch-aware) -----------------------------------------------------------------------------------

  const objectRoutes = (path: string, kind: ObjectKind, specs: (view: View) => Record<string, FilterSpec<StoredObject>>, ordering: Record<string, (o: StoredObject) => unknown>, defaults: string[]) => {
    const render = (r: RestRenderer, view: View) => (o: StoredObject) => (kind === 'vm' ? r.vm(o) : kind === 'disk' ? r.disk(o, view) : r.vmInterface(o, view));
    app.get(`/${path}/`, (c) => {
      const view = viewFor(c);
      return list(c, view.list(kind), specs(view), ordering, defaults, (o) => o.pk, render(rest(c), view));
    });
    app.get(`/${path}/:id/`, (c) => {
      const view = viewFor(c);
      return c.json(render(rest(c), view)(found(view.get(kind, idParam(c)), OBJECT_KINDS[kind].modelName)));
    });
  };
  const childSpecs = (view: View): Record<string, FilterSpec<StoredObject>> => ({
    id: { type: 'number', get: (o) => o.pk },
    name: { type: 'exact', get: (o) => o.data.name as string },
    virtual_machine_id: { type: 'ref', numeric: true, get: (o) => o.data.virtual_machine as number, resolve: intRef((id) => view.get('vm', id) !== undefined) },
    virtual_machine: { type: 'ref', get: (o) => o.data.virtual_machine as number, resolve: (n) => view.list('vm').find((v) => v.data.name === n)?.pk },
    q: { type: 'search', get: (o) => [o.data.name as string] },
  });

  objectRoutes('virtualization/virtual-machines', 'vm', () => ({
    id: { type: 'number', get: (o) => o.pk },
    name: { type: 'exact', get: (o) => o.data.name as string },
    q: { type: 'search', get: (o) => [o.data.name as string, o.data.description as string] },
    status: { type: 'choice', choices: VM_STATUSES, get: (o) => o.data.status as string },
    cluster_id: { type: 'ref', numeric: true, get: (o) => o.data.cluster as number, resolve: intRef((id) => model.clusters.has(id)) },
    cluster: { type: 'ref', get: (o) => o.data.cluster as number, resolve: (n) => [...model.clusters.values()].find((x) => x.name === n)?.id },
    role_id: { type: 'ref', numeric: true, get: (o) => o.data.role as number, resolve: intRef((id) => model.deviceRoles.has(id)) },
    tag: {
      type: 'contains', conjoined: true, valid: (slug) => [...model.tags.values()].some((t) => t.slug === slug),
      get: (o) => ((o.data.tags ?? []) as string[]).map((n) => model.tagByName(n).slug),
    },
    ...customFieldFilters<StoredObject>(model.customFieldsFor(OBJECT_KINDS.vm.objectType), (o) => (o.data.custom_fields ?? {}) as Record<string, unknown>),
  }), { id: (o) => o.pk, name: (o) => o.data.name, vcpus: (o) => (o.data.vcpus === null ? null : Number(o.data.vcpus)), memory: (o) => o.data.memory }, ['name']);
  const childOrdering = { id: (o: StoredObject) => o.pk, name: (o: StoredObject) => o.data.name, virtual_machine: (o: StoredObject) => o.data.virtual_machine };
  objectRoutes('virtualization/virtual-disks', 'disk', childSpecs, { ...childOrdering, size: (o) => o.data.size }, ['virtual_machine', 'name']);
  objectRoutes('virtualization/interfaces', 'interface', childSpecs, childOrdering, ['virtual_machine', 'name']);

  /** PATCH on a VM, in main or (with X-NetBox-Branch) in a branch: how the service stamps its custom fields. */
  app.patch('/virtualization/virtual-machines/:id/', async (c) => {
    const view = viewFor(c);
    const pk = idParam(c);
    const current = found(view.get('vm', pk), 'VirtualMachine');
    const body: unknown = await c.req.json().catch(() => undefined);
    if (!body || typeof body !== 'object' || Array.isArray(body)) return c.json({ non_field_errors: ['Invalid data. Expected a dictionary, but got str.'] }, 400);
    // DRF ignores fields the serializer does not have, and `id` is read-only.
    const patch = Object.fromEntries(Object.entries(body as Record<string, unknown>).filter(([k]) => k !== 'id' && k in current.data));
    if (patch.custom_fields !== undefined) {
      if (!patch.custom_fields || typeof patch.custom_fields !== 'object' || Array.isArray(patch.custom_fields)) return c.json({ custom_fields: ['Invalid data.'] }, 400);
      const known = new Set(model.customFieldsFor(OBJECT_KINDS.vm.objectType).map((cf) => cf.name));
      const unknown = Object.keys(patch.custom_fields).filter((k) => !known.has(k));
      if (unknown.length) return c.json({ custom_fields: [`Unknown field name '${unknown[0]}' in custom field data.`] }, 400);
    }
    const updated = model.updateObject(view.branch?.id ?? null, 'vm', pk, patch);
    return c.json(rest(c).vm(updated));
  });

  // Reference data ----------------------------------------------------------------------------------------------------

  const simpleRoutes = <T extends { id: number }>(path: string, modelName: string, items: () => T[], specs: Record<string, FilterSpec<T>>, render: (r: RestRenderer, t: T) => unknown, ordering: Record<string, (t: T) => unknown>, defaults: string[]) => {
    app.get(`/${path}/`, (c) => { const r = rest(c); return list(c, items(), specs, ordering, defaults, (t) => t.id, (t) => render(r, t)); });
    app.get(`/${path}/:id/`, (c) => { const id = idParam(c); return c.json(render(rest(c), found(items().find((t) => t.id === id), modelName))); });
  };
  const named = <T extends { id: number; name: string; slug: string }>(): Record<string, FilterSpec<T>> => ({
    id: { type: 'number', get: (t) => t.id }, name: { type: 'exact', get: (t) => t.name }, slug: { type: 'exact', get: (t) => t.slug },
    q: { type: 'search', get: (t) => [t.name, t.slug] },
  });
  const byName = { id: (t: { id: number }) => t.id, name: (t: { name: string }) => t.name };

  simpleRoutes('virtualization/clusters', 'Cluster', () => [...model.clusters.values()], named(), (r, t) => r.cluster(t), byName, ['name']);
  simpleRoutes('dcim/device-roles', 'DeviceRole', () => [...model.deviceRoles.values()], named(), (r, t) => r.deviceRole(t), byName, ['name']);
  simpleRoutes('virtualization/virtual-machine-types', 'VirtualMachineType', () => [...model.vmTypes.values()], named(), (r, t) => r.vmType(t), byName, ['name']);
  simpleRoutes('extras/custom-fields', 'CustomField', () => [...model.customFields.values()], {
    id: { type: 'number', get: (cf) => cf.id },
    name: { type: 'exact', get: (cf) => cf.name },
    type: { type: 'choice', choices: CUSTOM_FIELD_TYPES, get: (cf) => cf.type },
    object_type: { type: 'contains', get: (cf) => cf.objectTypes },
    q: { type: 'search', get: (cf) => [cf.name, cf.label] },
  }, (r, t) => r.customField(t), { id: (cf) => cf.id, name: (cf) => cf.name }, ['name']);
  app.post('/extras/custom-fields/', async (c) => {
    const body: unknown = await c.req.json().catch(() => undefined);
    const checked = validateNewCustomField(body, (name) => model.customFieldByName(name) !== undefined);
    if ('errors' in checked) return c.json(checked.errors, 400);
    return c.json(rest(c).customField(model.addCustomField(checked.input)), 201);
  });

  // MAC addresses and VLANs live in main; a branch (X-NetBox-Branch) sees main's.
  app.get('/dcim/mac-addresses/', (c) => {
    const r = rest(c), view = viewFor(c);
    return list(c, [...model.macAddresses.values()], {
      id: { type: 'number', get: (m) => m.id },
      mac_address: { type: 'exact', caseInsensitive: true, get: (m) => m.macAddress },
      vminterface_id: { type: 'number', get: (m) => m.assignedInterface ?? -1 },
    }, { id: (m) => m.id, mac_address: (m) => m.macAddress }, ['mac_address'], (m) => m.id, (m) => r.macAddress(m, view));
  });
  app.get('/dcim/mac-addresses/:id/', (c) => {
    const id = idParam(c);
    return c.json(rest(c).macAddress(found(model.macAddresses.get(id), 'MACAddress'), viewFor(c)));
  });
  simpleRoutes('ipam/vlans', 'VLAN', () => [...model.vlans.values()], {
    id: { type: 'number', get: (v) => v.id }, vid: { type: 'number', get: (v) => v.vid }, name: { type: 'exact', get: (v) => v.name },
  }, (r, v) => r.vlan(v), { id: (v) => v.id, vid: (v) => v.vid, name: (v) => v.name }, ['vid', 'name']);
  simpleRoutes('users/users', 'User', () => [...model.users.values()], {
    id: { type: 'number', get: (u) => u.id }, username: { type: 'exact', get: (u) => u.username },
    is_active: { type: 'boolean', get: (u) => u.isActive }, q: { type: 'search', get: (u) => [u.username, u.firstName, u.lastName, u.email] },
  }, (r, u) => r.userDetail(u), { id: (u) => u.id, username: (u) => u.username }, ['username']);

  journalRoutes(app, { model, rest, list });

  app.all('*', (c) => detail(c, 404, 'Not found.'));
  return app;
}
