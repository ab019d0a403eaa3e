import { Hono } from 'hono';
import {
  APPLY_MESSAGES, ApplyRequest, collectSecretValues, overallOf, PAYLOAD_MODEL_NAMES, scrubSecrets,
  type ApplyDiff, type ApplyResultItem, type E1ErrorItem, type LxcIntentPayload, type QemuIntentPayload,
} from '../../contracts/proxbox-api';
import { desiredUpdate, lxcCreateParams, qemuCreateParams, touchesOfflineKey, updateDelta } from './apply-params';
import type { FakeEndpoint, FakeProxmox } from './fake-proxmox';
import { writeGate } from './gate';
import { e1, e4, errorsOf, intParam, readJsonBody } from './http';
import { journalComments, JournalWriteError, type JournalKind } from './journal';
import { errorText } from './pve-errors';
import { zodToE1 } from './validation';

/** An update diff hit the write gate: the whole request becomes 403 (proxbox-api.md §5.5). */
class UpdateGateRefusal extends Error {}

type GuestDiff = Extract<ApplyDiff, { kind: 'qemu' | 'lxc' }>;
type FirewallDiff = Extract<ApplyDiff, { kind: 'firewall' }>;

interface DiffContext {
  cluster: FakeProxmox;
  endpointId: number | undefined;
  runUuid: string;
  actor: string | null | undefined;
  secrets: string[];
}

export const JOURNAL_FAILURE = {
  message: 'Failed to write verb audit journal entry',
  detail: { endpoint: '/api/extras/journal-entries/', method: 'POST' },
} as const;

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Payload errors carry a loc without the `payload` segment; a payload that is not an object gets
 * one union error per payload model (proxbox-api.md §5.1).
 */
function applyErrors(issues: Parameters<typeof zodToE1>[0], body: unknown): E1ErrorItem[] {
  const errors = zodToE1(issues, body, {
    where: 'body',
    relocate: (path) => (path[0] === 'diffs' && path[2] === 'payload' && path.length > 3 ? [...path.slice(0, 2), ...path.slice(3)] : path),
  });
  return errors.flatMap((e) => {
    const payloadItself = e.loc.length === 4 && e.loc[1] === 'diffs' && e.loc[3] === 'payload' && e.type === 'model_attributes_type';
    return payloadItself ? PAYLOAD_MODEL_NAMES.map((model) => ({ ...e, loc: [...e.loc, model] })) : [e];
  });
}

function item(diff: ApplyDiff, vmid: number, status: ApplyResultItem['status'], message: string, reason: string | null = null, upid: string | null = null): ApplyResultItem {
  return { netbox_id: diff.netbox_id ?? null, vmid, op: diff.op, kind: diff.kind, status, reason, message, proxmox_upid: upid };
}

function journal(ctx: DiffContext, endpoint: FakeEndpoint, diff: GuestDiff, verb: string, result: string, kind: JournalKind, upid: string | null, error?: string): void {
  const comments = journalComments({
    verb, actor: ctx.actor, result, endpoint, endpointId: endpoint.id, upid,
    errorDetail: error === undefined ? null : scrubSecrets(error, ctx.secrets),
    extra: [['target_vmid', diff.payload.vmid], ['run_uuid', ctx.runUuid]],
  });
  ctx.cluster.journal.write(diff.netbox_id ?? diff.payload.vmid, kind, comments, ctx.secrets);
}

function createDiff(ctx: DiffContext, diff: GuestDiff): ApplyResultItem {
  const { payload } = diff;
  const gate = writeGate(ctx.cluster, ctx.endpointId);
  if (!gate.ok) return item(diff, payload.vmid, 'failed', APPLY_MESSAGES.writesDisabled);
  let params;
  if (diff.kind === 'qemu') {
    if (!diff.payload.name) return item(diff, payload.vmid, 'failed', APPLY_MESSAGES.qemuNameRequired);
    if (diff.payload.template_vmid != null) return item(diff, payload.vmid, 'not_implemented', APPLY_MESSAGES.templateClone);
    params = qemuCreateParams(diff.payload);
  } else {
    if (!diff.payload.hostname) return item(diff, payload.vmid, 'failed', APPLY_MESSAGES.lxcHostnameRequired);
    if (!diff.payload.ostemplate) return item(diff, payload.vmid, 'failed', APPLY_MESSAGES.lxcOstemplateRequired);
    params = lxcCreateParams(diff.payload);
  }
  const verb = `intent_create_${diff.kind}`;
  let upid: string;
  try {
    upid = ctx.cluster.connect(gate.endpoint.id).create(payload.node, diff.kind, params);
  } catch (e) {
    const message = scrubSecrets(errorText(e), ctx.secrets);
    journal(ctx, gate.endpoint, diff, verb, 'failed', 'danger', null, errorText(e));
    return item(diff, payload.vmid, 'failed', message);
  }
  journal(ctx, gate.endpoint, diff, verb, 'succeeded', 'success', upid);
  return item(diff, payload.vmid, 'succeeded', '', null, upid);
}

function updateDiff(ctx: DiffContext, diff: GuestDiff): ApplyResultItem {
  const payload: QemuIntentPayload | LxcIntentPayload = diff.payload;
  const { vmid, node } = payload;
  const gate = writeGate(ctx.cluster, ctx.endpointId);
  if (!gate.ok) throw new UpdateGateRefusal();
  const verb = `intent_update_${diff.kind}`;
  let delta: Record<string, string | number>;
  try {
    const api = ctx.cluster.connect(gate.endpoint.id);
    const onNode = api.listGuests(node, diff.kind).some((g) => Number(g.vmid) === vmid);
    if (!onNode) {
      const found = api.clusterResources('vm').find((r) => Number(r.vmid) === vmid && r.type === diff.kind);
      const now = found?.node ? String(found.node) : 'unknown';
      return item(diff, vmid, 'failed', `TOCTOU mismatch: vmid ${vmid} was on node '${node}' at plan, now on '${now}'`, 'toctou_mismatch');
    }
    delta = updateDelta(api.getConfig(node, diff.kind, vmid), desiredUpdate(diff.kind, payload));
    if (Object.keys(delta).length === 0) {
      return item(diff, vmid, 'skipped', diff.kind === 'qemu' ? APPLY_MESSAGES.qemuSkipped : APPLY_MESSAGES.lxcSkipped);
    }
    const running = api.statusCurrent(node, diff.kind, vmid).status === 'running';
    if (running && touchesOfflineKey(diff.kind, delta)) {
      return item(diff, vmid, 'failed', `Update requires VM stop; refusing to auto-stop running VM ${vmid}`, 'update_requires_vm_stop');
    }
    api.updateConfig(node, diff.kind, vmid, delta);
  } catch (e) {
    journal(ctx, gate.endpoint, diff, verb, 'failed', 'danger', null, errorText(e));
    return item(diff, vmid, 'failed', scrubSecrets(errorText(e), ctx.secrets));
  }
  journal(ctx, gate.endpoint, diff, verb, 'succeeded', 'success', null);
  const keys = Object.keys(delta).sort().join(', ');
  return item(diff, vmid, 'succeeded', diff.kind === 'qemu' ? `Updated QEMU VM ${vmid}: ${keys}` : `Updated LXC ${vmid}: ${keys}`);
}

/** Firewall diffs exist upstream but are outside our v1; the simulator gates them and reports them unsupported. */
function firewallDiff(ctx: DiffContext, diff: FirewallDiff): ApplyResultItem {
  const vmid = diff.payload.vmid ?? 0;
  const gate = writeGate(ctx.cluster, ctx.endpointId);
  if (!gate.ok) {
    const reason = gate.body.reason === 'endpoint_writes_disabled' ? 'writes_disabled_for_endpoint' : gate.body.reason;
    return item(diff, vmid, 'failed', gate.body.detail, reason);
  }
  if (!ctx.actor?.trim()) return item(diff, vmid, 'failed', 'actor is required for firewall diffs', 'invalid_firewall_payload');
  return item(diff, vmid, 'failed', `Firewall action '${diff.payload.action}' is not supported by the simulator`, 'firewall_write_not_supported');
}

function processDiff(ctx: DiffContext, diff: ApplyDiff): ApplyResultItem {
  if (diff.kind === 'firewall') return firewallDiff(ctx, diff);
  if (diff.op === 'delete') return item(diff, diff.payload.vmid, 'not_implemented', APPLY_MESSAGES.deleteNotImplemented);
  return diff.op === 'create' ? createDiff(ctx, diff) : updateDiff(ctx, diff);
}

/** `POST /intent/apply?endpoint_id=N` (proxbox-api.md §5). */
export function applyRoutes(cluster: FakeProxmox): Hono {
  const app = new Hono();
  app.post('/intent/apply', async (c) => {
    const endpointId = intParam(c.req.query('endpoint_id'), 'query', 'endpoint_id', false);
    const raw = await readJsonBody(c);
    const parsed = raw.ok ? ApplyRequest.safeParse(raw.value) : null;
    const bodyErrors = !raw.ok ? raw.errors : parsed && !parsed.success ? applyErrors(parsed.error.issues, raw.value) : [];
    const errors = [...errorsOf(endpointId), ...bodyErrors];
    if (errors.length || !parsed?.success || !endpointId.ok) return e1(c, errors);

    const request = parsed.data;
    const rawBody = raw.ok && isRecord(raw.value) ? raw.value : {};
    const rawDiffs = Array.isArray(rawBody.diffs) ? (rawBody.diffs as unknown[]) : [];
    const results: ApplyResultItem[] = [];
    try {
      for (const [index, diff] of request.diffs.entries()) {
        const secrets = collectSecretValues(isRecord(rawDiffs[index]) ? rawDiffs[index].payload : undefined);
        results.push(processDiff({ cluster, endpointId: endpointId.value, runUuid: request.run_uuid, actor: request.actor, secrets }, diff));
      }
    } catch (e) {
      if (e instanceof UpdateGateRefusal) {
        return c.json({ reason: 'writes_disabled_for_endpoint', detail: 'writes_disabled_for_endpoint' }, 403);
      }
      if (e instanceof JournalWriteError) return e4(c, 502, JOURNAL_FAILURE.message, JOURNAL_FAILURE.detail);
      return c.json({ detail: 'internal_error' }, 500);
    }
    return c.json({ run_uuid: request.run_uuid, overall: overallOf(results.map((r) => r.status)), results });
  });
  return app;
}
