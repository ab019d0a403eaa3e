/**
 * The merge validator's decisions (the read-only plan of a branch), without I/O: `services/merge-validator.ts` gathers the facts
 * from NetBox, PostgreSQL and proxbox-api's read routes, and these functions decide.
 *
 * Checks, in this order (CHECK_ORDER); a diff's verdict names the first check that blocks it:
 *  1. branching            netbox-branching is installed (NetBox `GET /api/status/` plugins) and the branch exists
 *                          (an unknown branch is a 404 at the route, not a verdict).
 *  2. master_flag          `netbox_to_proxmox_enabled`, stored together with the typed phrase.
 *  3. opt_in               `apply_to_proxmox=True`. A branch that is not opted in is permitted whatever the master flag
 *                          says: its merge stays NetBox-only, and a validator must never block NetBox-only merges.
 *                          So the master flag blocks only opted-in branches.
 *  4. diffs                VirtualMachine ChangeDiffs (QEMU and LXC). None: permitted, the merge is a no-op for Proxmox.
 *  5. permission           RBAC of `actor` (when one is given) for each diff's op and kind.
 *  6. destroy_confirmation `apply_destroy_confirmed=True` when the branch holds DELETE diffs.
 *  7. backend              a FastAPIEndpoint (proxbox-api) is configured.
 *  8. endpoint             a Proxmox endpoint serves the diff's cluster and allows writes here (`allowWrites`) and in
 *                          proxbox-api (`enabled && allow_writes` of `GET /proxmox/endpoints/{id}`).
 *  9. preflight            local checks: `planChanges` findings and the payload against proxbox-api's schema (what it
 *                          would answer 422 to); then live checks on the cluster: a create's VMID is free, its node
 *                          exists and is online, its storages exist on the node, an LXC ostemplate volume exists; an
 *                          update's or delete's VMID exists on the expected node with the expected kind; a running
 *                          guest whose update touches offline keys is a warning.
 * 10. backend_plan         proxbox-api `POST /intent/plan` verdicts; a `blocked` verdict blocks (none does today).
 * Checks 5 to 8 are `firstClosedGate`, the same gates the apply evaluates before every write. A read that fails or
 * runs out of time blocks (fail closed) and the message says the preflight was unavailable.
 */
import { LxcIntentPayload, QemuIntentPayload, type ClusterResource, type PlanKind, type PlanRequest, type PlanVerdict } from '../contracts/proxbox-api';
import type { PlannedChange, Severity } from './change-planner';
import { firstClosedGate, type Gate } from './gates';
import { MESSAGES } from './messages';
import type { GuestKind } from './guest-kind';
import type { IntentOp } from './permissions';
import { routeEndpoint, type RoutableEndpoint } from './routing';
import { intentEnabled, type IntentSettings } from './settings';

export const CHECK_ORDER = [
  'branching', 'master_flag', 'opt_in', 'diffs', 'permission', 'destroy_confirmation', 'backend', 'endpoint', 'preflight', 'backend_plan',
] as const;
export type ValidationCheck = (typeof CHECK_ORDER)[number];

export type VerdictValue = 'permitted' | 'warning' | 'blocked' | 'skipped';

export interface ValidationFinding { check: ValidationCheck; severity: Severity; reason: string; message: string }

export interface ValidationEndpoint extends RoutableEndpoint { name: string; backendEndpointId: number; allowWrites: boolean }

export interface BranchFacts {
  id: number; schemaId: string; name: string; status: string; optedIn: boolean; destroyConfirmed: boolean;
}

export interface MergeValidationInput {
  branch: BranchFacts;
  settings: Pick<IntentSettings, 'netboxToProxmoxEnabled' | 'typedConfirmation'>;
  actor: string | null;
  /** The actor's permissions; null when no actor was given (RBAC is then not evaluated). */
  actorPermissions: readonly string[] | null;
  backendConfigured: boolean;
  endpoints: readonly ValidationEndpoint[];
  clusterNames: ReadonlyMap<number, string>;
  changes: readonly PlannedChange[];
}

/** A read from proxbox-api: its value, or why it failed (`unavailable`: slow, down or erroring; retrying may help). */
export type Read<T> = { ok: true; value: T } | { ok: false; reason: string; message: string; unavailable: boolean };

/** What proxbox-api said about one of its endpoints (proxbox-api.md §3, §8.1, §8.4) and its `/intent/plan` verdicts (proxbox-api.md §4). */
export interface EndpointLive {
  info: Read<{ name: string; enabled: boolean; allowWrites: boolean }>;
  guests: Read<ClusterResource[]>;
  nodes: Read<ClusterResource[]>;
  storages: Read<ClusterResource[]>;
  /** Volume ids by `node/storage`, for the ostemplates of LXC creates. */
  templates: ReadonlyMap<string, Read<string[]>>;
  plan: Read<PlanVerdict[]>;
}

interface Item {
  change: PlannedChange;
  endpoint: ValidationEndpoint | null;
  findings: ValidationFinding[];
  /** Gates and routing are open: proxbox-api is asked about it. */
  toBackend: boolean;
}

/** The plan before proxbox-api is asked: global stop, per-diff gate and local findings, and what to read upstream. */
export interface LocalValidation {
  input: MergeValidationInput;
  stop: { permitted: boolean; check: ValidationCheck; reason: string; message: string } | null;
  items: Item[];
  /** One entry per proxbox-api endpoint to read, with the changes it is asked about, in plan order. */
  backendReads: { backendEndpointId: number; keys: string[]; templates: { node: string; storage: string }[] }[];
}

const CHECK_OF_GATE: Record<Gate, ValidationCheck> = {
  master_flag: 'master_flag', opt_in: 'opt_in', permission: 'permission', destroy_confirmation: 'destroy_confirmation',
  backend: 'backend', endpoint: 'endpoint', endpoint_writes: 'endpoint',
};

const NO_DIFFS = 'No VM or LXC diffs in this branch: the merge is a no-op for Proxmox';
/**
 * proxbox-api calls one plan makes (services/merge-validator.ts): per endpoint, its record, the vm, node and storage listings and
 * `/intent/plan`, plus one storage listing per LXC template location. The plan's global budget is counted in these.
 */
export function proxboxCallsOf(local: Pick<LocalValidation, 'backendReads'>): number {
  return local.backendReads.reduce((n, r) => n + 5 + r.templates.length, 0);
}

/** Every read of an endpoint failed the same way (the plan was not allowed to ask proxbox-api). */
export function unreadEndpoint(read: LocalValidation['backendReads'][number], reason: string, message: string): EndpointLive {
  const failed = { ok: false as const, reason, message, unavailable: true };
  return { info: failed, guests: failed, nodes: failed, storages: failed, plan: failed, templates: new Map(read.templates.map((t) => [`${t.node}/${t.storage}`, failed])) };
}

export const UNAVAILABLE = (detail: string) => `proxbox-intent preflight unavailable: ${detail.replace(/\.$/, '')}. Retry, or clear apply_to_proxmox.`;

export function validateLocally(input: MergeValidationInput): LocalValidation {
  const { branch, settings } = input;
  const enabled = intentEnabled(settings);
  let stop: LocalValidation['stop'] = null;
  if (!branch.optedIn) stop = { permitted: true, check: 'opt_in', reason: 'branch_not_opted_in', message: MESSAGES.notOptedIn };
  else if (!enabled) stop = { permitted: false, check: 'master_flag', reason: 'master_flag_disabled', message: MESSAGES.masterFlagDisabled };
  else if (input.changes.length === 0) stop = { permitted: true, check: 'diffs', reason: 'no_vm_diffs', message: NO_DIFFS };

  const items: Item[] = input.changes.map((change) => {
    const endpoint = routeEndpoint(input.endpoints, {
      id: change.clusterId, name: change.clusterId !== null ? input.clusterNames.get(change.clusterId) ?? null : null,
    });
    const findings: ValidationFinding[] = [];
    if (change.vanished) return { change, endpoint, findings, toBackend: false };
    const closed = firstClosedGate({
      settings, optedIn: branch.optedIn, destroyConfirmed: branch.destroyConfirmed, backendConfigured: input.backendConfigured,
      endpoint, permissions: input.actorPermissions, op: change.op, kind: change.kind,
    });
    if (closed) findings.push({ check: CHECK_OF_GATE[closed.gate], severity: 'blocked', reason: closed.reason, message: closed.message });
    for (const f of change.findings) findings.push({ check: 'preflight', ...f });
    findings.push(...schemaFindings(change));
    return { change, endpoint, findings, toBackend: !closed && !change.noop && endpoint !== null };
  });

  const reads = new Map<number, LocalValidation['backendReads'][number]>();
  if (!stop) {
    for (const it of items.filter((i) => i.toBackend)) {
      const id = it.endpoint!.backendEndpointId;
      const read = reads.get(id) ?? { backendEndpointId: id, keys: [], templates: [] };
      read.keys.push(it.change.key);
      const tpl = templateOf(it.change);
      if (tpl && !read.templates.some((t) => t.node === tpl.node && t.storage === tpl.storage)) read.templates.push(tpl);
      reads.set(id, read);
    }
  }
  return { input, stop, items, backendReads: [...reads.values()] };
}

/** Inputs proxbox-api would refuse with 422 (cloud-init values among them): validated against its own schema. */
function schemaFindings(change: PlannedChange): ValidationFinding[] {
  if (!change.payload || (change.op !== 'create' && change.op !== 'update')) return [];
  const parsed = (change.kind === 'qemu' ? QemuIntentPayload : LxcIntentPayload).safeParse(change.payload);
  if (parsed.success) return [];
  const issues = parsed.error.issues.map((i) => `${i.path.join('.') || 'payload'}: ${i.message}`).join('; ');
  return [{ check: 'preflight', severity: 'blocked', reason: 'payload_rejected_by_backend', message: `proxbox-api would reject this payload (422): ${issues}` }];
}

const storageOfSpec = (spec: string) => (spec.includes(':') ? spec.slice(0, spec.indexOf(':')) : null);

function templateOf(change: PlannedChange): { node: string; storage: string } | null {
  if (change.op !== 'create' || change.kind !== 'lxc' || !change.node || !change.payload) return null;
  const ostemplate = (change.payload as LxcIntentPayload).ostemplate;
  const storage = ostemplate ? storageOfSpec(ostemplate) : null;
  return storage ? { node: change.node, storage } : null;
}

const planKind = (kind: GuestKind): PlanKind => (kind === 'qemu' ? 'virtualmachine' : 'lxc');

/** The `/intent/plan` body for one proxbox-api endpoint (kind `virtualmachine`|`lxc`, netbox.md §8). */
export function backendPlanRequest(local: LocalValidation, read: LocalValidation['backendReads'][number]): PlanRequest {
  const byKey = new Map(local.items.map((i) => [i.change.key, i.change]));
  return {
    endpoint_id: read.backendEndpointId,
    branch_id: local.input.branch.id,
    actor: local.input.actor,
    diffs: read.keys.map((k) => byKey.get(k)!).map((c) => ({
      op: c.op, kind: planKind(c.kind), netbox_id: c.netboxId, name: c.name,
      ...(c.node ? { proxmox_node: c.node } : {}), ...(c.vmid !== null ? { desired_vmid: c.vmid } : {}),
    })),
  };
}

/** Qemu and LXC keys proxbox-api refuses to change on a running guest (proxbox-api.md §5.5), as payload fields. */
const OFFLINE_KEYS = ['cores', 'memory_mib', 'disks'] as const;

function liveFindings(c: PlannedChange, live: EndpointLive): ValidationFinding[] {
  const out: ValidationFinding[] = [];
  const block = (reason: string, message: string) => out.push({ check: 'preflight', severity: 'blocked', reason, message });
  const warn = (reason: string, message: string) => out.push({ check: 'preflight', severity: 'warning', reason, message });
  const failed = [live.guests, live.nodes, live.storages].find((r) => !r.ok);
  if (failed && !failed.ok) {
    block(failed.unavailable ? 'backend_unavailable' : failed.reason, failed.message);
    return out;
  }
  if (c.vmid === null || c.node === null || !live.guests.ok || !live.nodes.ok || !live.storages.ok) return out;
  const node = live.nodes.value.find((r) => r.type === 'node' && r.node === c.node);
  const guest = live.guests.value.find((g) => g.vmid === c.vmid && (g.type === 'qemu' || g.type === 'lxc'));
  const nodeDown = node && node.status !== 'online';
  if (!node) block('node_not_found', `Node ${c.node} is not part of the cluster`);

  if (c.op === 'create') {
    if (nodeDown) block('node_offline', `Node ${c.node} is ${node.status ?? 'not online'}`);
    if (guest) block('vmid_in_use', `VMID ${c.vmid} is already used by ${guest.type} '${guest.name ?? '?'}' on ${guest.node ?? '?'}`);
    for (const storage of storagesOf(c)) {
      if (!live.storages.value.some((s) => s.type === 'storage' && s.node === c.node && s.storage === storage)) {
        block('storage_not_found', `Storage ${storage} does not exist on node ${c.node}`);
      }
    }
    const tpl = templateOf(c);
    if (tpl) {
      const volumes = live.templates.get(`${tpl.node}/${tpl.storage}`);
      const ostemplate = (c.payload as LxcIntentPayload).ostemplate!;
      if (volumes && !volumes.ok) block(volumes.unavailable ? 'backend_unavailable' : 'ostemplate_not_found', volumes.unavailable ? volumes.message : `ostemplate ${ostemplate} not found: ${volumes.message}`);
      else if (volumes?.ok && !volumes.value.includes(ostemplate)) block('ostemplate_not_found', `ostemplate ${ostemplate} does not exist on node ${c.node}`);
    }
    return out;
  }
  if (!guest) {
    block('guest_not_found', `VMID ${c.vmid} does not exist on the cluster`);
    return out;
  }
  if (guest.node !== c.node) block('guest_on_other_node', `VMID ${c.vmid} is on node ${guest.node ?? '?'}, not ${c.node}`);
  if (guest.type !== c.kind) block('guest_kind_mismatch', `VMID ${c.vmid} is a ${guest.type} guest in Proxmox, not ${c.kind}`);
  if (guest.lock) warn('guest_locked', `VMID ${c.vmid} is locked (${guest.lock}) by a running task`);
  if (nodeDown) {
    if (c.op === 'update') block('node_offline', `Node ${c.node} is ${node.status ?? 'not online'}`);
    else warn('node_offline', `Node ${c.node} is ${node.status ?? 'not online'}; the destroy waits for approval and will need it online`);
  }
  if (c.op === 'update' && guest.status === 'running' && c.payload) {
    const touched = OFFLINE_KEYS.filter((k) => k in c.payload!);
    if (touched.length) {
      warn('update_requires_vm_stop', `${c.name} (${c.vmid}) is running and the update changes ${touched.join(', ')}: proxbox-api refuses that until the guest is stopped (update_requires_vm_stop)`);
    }
  }
  return out;
}

function storagesOf(c: PlannedChange): string[] {
  const payload = c.payload as { disks?: { key?: unknown; value?: unknown }[]; storage?: string | null } | null;
  const names = new Set<string>();
  for (const d of payload?.disks ?? []) {
    const s = typeof d.value === 'string' ? storageOfSpec(d.value) : null;
    if (s) names.add(s);
  }
  if (c.kind === 'lxc' && payload?.storage) names.add(payload.storage);
  return [...names];
}

function endpointFindings(live: EndpointLive, backendEndpointId: number): ValidationFinding[] {
  const info = live.info;
  if (!info.ok) return [{ check: 'endpoint', severity: 'blocked', reason: info.unavailable ? 'backend_unavailable' : info.reason, message: info.message }];
  if (!info.value.enabled) {
    return [{ check: 'endpoint', severity: 'blocked', reason: 'endpoint_disabled', message: `Proxmox endpoint ${backendEndpointId} (${info.value.name}) is disabled in proxbox-api` }];
  }
  if (!info.value.allowWrites) {
    return [{ check: 'endpoint', severity: 'blocked', reason: 'writes_disabled_for_endpoint', message: `${MESSAGES.writesDisabled}: allow_writes is off for Proxmox endpoint ${backendEndpointId} (${info.value.name}) in proxbox-api` }];
  }
  return [];
}

export interface ValidationDiffView {
  changeDiffId: number; netboxId: number; name: string; op: IntentOp; kind: GuestKind; vmid: number | null; node: string | null;
  endpoint: string | null;
}
export interface ValidationVerdictView {
  netboxId: number; name: string; op: IntentOp; kind: GuestKind; vmid: number | null;
  verdict: VerdictValue; reason: string; message: string; check: ValidationCheck | null;
  findings: ValidationFinding[];
  backend: { verdict: string; reason: string | null; message: string } | null;
}
export interface MergeValidation {
  permitted: boolean;
  message: string;
  summary: string;
  branch: { id: number; schemaId: string | null; name: string | null; status: string | null };
  settings: { enabled: boolean; optedIn: boolean; destroyConfirmed: boolean };
  actor: string | null;
  rbacChecked: boolean;
  /** Set when a read failed or ran out of time: the plan failed closed. */
  unavailable: { system: 'netbox' | 'proxbox-api'; detail: string } | null;
  checks: readonly ValidationCheck[];
  diffs: ValidationDiffView[];
  verdicts: ValidationVerdictView[];
}

/** The whole plan from the local plan and what proxbox-api said (`live`, by proxbox-api endpoint id). */
export function decideMergeValidation(local: LocalValidation, live: ReadonlyMap<number, EndpointLive>): MergeValidation {
  const { input } = local;
  const items = local.items.map((i) => ({ ...i, findings: [...i.findings] }));
  const backendVerdicts = new Map<string, PlanVerdict>();
  for (const read of local.backendReads) {
    const l = live.get(read.backendEndpointId);
    for (const it of items.filter((i) => read.keys.includes(i.change.key))) {
      if (!l) {
        it.findings.push({ check: 'preflight', severity: 'blocked', reason: 'backend_unavailable', message: 'proxbox-api was not asked about this change' });
        continue;
      }
      it.findings.push(...endpointFindings(l, read.backendEndpointId), ...liveFindings(it.change, l));
      const index = read.keys.indexOf(it.change.key);
      if (!l.plan.ok) {
        it.findings.push({ check: 'backend_plan', severity: 'blocked', reason: l.plan.unavailable ? 'backend_unavailable' : l.plan.reason, message: l.plan.message });
      } else if (l.plan.value.length !== read.keys.length) {
        it.findings.push({ check: 'backend_plan', severity: 'blocked', reason: 'backend_plan_mismatch', message: `proxbox-api /intent/plan answered ${l.plan.value.length} verdicts for ${read.keys.length} diffs` });
      } else {
        const v = l.plan.value[index]!;
        backendVerdicts.set(it.change.key, v);
        if (v.verdict !== 'permitted') it.findings.push({ check: 'backend_plan', severity: v.verdict, reason: v.reason ?? `backend_${v.verdict}`, message: v.message });
      }
    }
  }
  // Stable: within a check, local findings stay before live ones.
  for (const it of items) it.findings.sort((a, b) => CHECK_ORDER.indexOf(a.check) - CHECK_ORDER.indexOf(b.check));

  const verdicts = items.map((it) => verdictOf(it, local.stop, backendVerdicts.get(it.change.key) ?? null));
  const unavailableFinding = items.flatMap((i) => i.findings).find((f) => f.reason === 'backend_unavailable');
  const blocked = verdicts.filter((v) => v.verdict === 'blocked');
  const permitted = local.stop ? local.stop.permitted : blocked.length === 0;
  let message: string;
  if (local.stop) message = local.stop.message;
  else if (unavailableFinding) message = UNAVAILABLE(unavailableFinding.message);
  else if (blocked.length) message = blockedMessage(blocked);
  else message = permittedMessage(verdicts);
  return {
    permitted, message,
    summary: summaryOf(input.changes, verdicts),
    branch: { id: input.branch.id, schemaId: input.branch.schemaId, name: input.branch.name, status: input.branch.status },
    settings: settingsView(input),
    actor: input.actor,
    rbacChecked: input.actorPermissions !== null,
    unavailable: unavailableFinding ? { system: 'proxbox-api', detail: unavailableFinding.message } : null,
    checks: CHECK_ORDER,
    diffs: items.map(({ change: c, endpoint }) => ({
      changeDiffId: c.changeDiffId, netboxId: c.netboxId, name: c.name, op: c.op, kind: c.kind, vmid: c.vmid, node: c.node, endpoint: endpoint?.name ?? null,
    })),
    verdicts,
  };
}

function verdictOf(it: Item, stop: LocalValidation['stop'], backend: PlanVerdict | null): ValidationVerdictView {
  const c = it.change;
  const as = (verdict: VerdictValue, check: ValidationCheck | null, reason: string, message: string): ValidationVerdictView => ({
    netboxId: c.netboxId, name: c.name, op: c.op, kind: c.kind, vmid: c.vmid, verdict, reason, message, check, findings: it.findings,
    backend: backend ? { verdict: backend.verdict, reason: backend.reason, message: backend.message } : null,
  });
  if (c.vanished) return as('skipped', null, 'vanished_in_branch', 'Created and deleted inside the branch: nothing reaches Proxmox');
  if (stop?.check === 'opt_in') return as('skipped', 'opt_in', stop.reason, stop.message);
  const firstBlocked = it.findings.find((f) => f.severity === 'blocked');
  if (firstBlocked) return as('blocked', firstBlocked.check, firstBlocked.reason, firstBlocked.message);
  if (c.noop) return as('skipped', null, 'no_op', 'No change to apply: the desired state equals the pre-change data');
  const firstWarning = it.findings.find((f) => f.severity === 'warning');
  if (firstWarning) return as('warning', firstWarning.check, firstWarning.reason, firstWarning.message);
  return as('permitted', null, 'checks_passed', `${c.op} ${c.kind} ${c.vmid} on ${c.node}: every check passed`);
}

/** The seed's sentences first, in check order, each with the VMs it concerns; at most three causes. */
function blockedMessage(blocked: ValidationVerdictView[]): string {
  const byMessage = new Map<string, { check: ValidationCheck | null; names: string[] }>();
  for (const v of blocked) {
    const entry = byMessage.get(v.message) ?? { check: v.check, names: [] };
    entry.names.push(v.name);
    byMessage.set(v.message, entry);
  }
  const causes = [...byMessage.entries()]
    .sort((a, b) => CHECK_ORDER.indexOf(a[1].check ?? 'preflight') - CHECK_ORDER.indexOf(b[1].check ?? 'preflight'))
    .map(([message, e]) => `${message} (${e.names.join(', ')})`);
  return causes.slice(0, 3).join('; ') + (causes.length > 3 ? `; and ${causes.length - 3} more` : '');
}

function permittedMessage(verdicts: ValidationVerdictView[]): string {
  const warnings = verdicts.filter((v) => v.verdict === 'warning');
  if (!warnings.length) return 'Plan permitted: every check passed';
  return `Plan permitted with ${warnings.length} warning${warnings.length > 1 ? 's' : ''}: ${warnings.slice(0, 3).map((w) => `${w.name}: ${w.message}`).join('; ')}`;
}

function summaryOf(changes: readonly PlannedChange[], verdicts: ValidationVerdictView[]): string {
  const ops = (op: IntentOp) => changes.filter((c) => c.op === op).length;
  const count = (v: VerdictValue) => verdicts.filter((x) => x.verdict === v).length;
  return `${ops('create')} create / ${ops('update')} update / ${ops('delete')} delete; `
    + `${count('permitted')} permitted, ${count('warning')} warning, ${count('blocked')} blocked, ${count('skipped')} skipped`;
}

function settingsView(input: Pick<MergeValidationInput, 'settings' | 'branch'>) {
  return { enabled: intentEnabled(input.settings), optedIn: input.branch.optedIn, destroyConfirmed: input.branch.destroyConfirmed };
}

/** netbox-branching is not installed: nothing about the branch can be read. */
export function branchingMissingValidation(branchId: number, settings: MergeValidationInput['settings'], actor: string | null): MergeValidation {
  return emptyPlan(branchId, settings, null, actor, { permitted: false, message: MESSAGES.branchingMissing, unavailable: null });
}

/** A NetBox read failed or ran out of time before the diffs were known: fail closed. */
export function netboxUnavailableValidation(branchId: number, settings: MergeValidationInput['settings'], branch: BranchFacts | null, actor: string | null, detail: string): MergeValidation {
  return emptyPlan(branchId, settings, branch, actor, { permitted: false, message: UNAVAILABLE(detail), unavailable: { system: 'netbox', detail } });
}

function emptyPlan(branchId: number, settings: MergeValidationInput['settings'], branch: BranchFacts | null, actor: string | null,
  outcome: Pick<MergeValidation, 'permitted' | 'message' | 'unavailable'>): MergeValidation {
  return {
    ...outcome,
    summary: 'The branch diffs could not be read',
    branch: branch ? { id: branch.id, schemaId: branch.schemaId, name: branch.name, status: branch.status } : { id: branchId, schemaId: null, name: null, status: null },
    settings: { enabled: intentEnabled(settings), optedIn: branch?.optedIn ?? false, destroyConfirmed: branch?.destroyConfirmed ?? false },
    actor, rbacChecked: false, checks: CHECK_ORDER, diffs: [], verdicts: [],
  };
}
