import { randomUUID } from 'node:crypto';
import { Hono, type Context } from 'hono';
import {
  DeletionRejectBody, DeletionTarget, RegisterDeletionRequest, scrubSecrets,
  type DeletionState, type DeletionTarget as Target,
} from '../../contracts/proxbox-api';
import { JOURNAL_FAILURE } from './apply';
import type { StoredDeletion } from './deletion-store';
import { recordBody } from './deletion-store';
import type { FakeEndpoint, FakeProxmox } from './fake-proxmox';
import { writeGate } from './gate';
import { actorOf, e1, e2, e3, e4, errorsOf, intParam, parseBody } from './http';
import { journalComments, JournalWriteError, type JournalKind } from './journal';
import { errorText } from './pve-errors';

interface Audit {
  cluster: FakeProxmox;
  record: StoredDeletion;
  endpoint: FakeEndpoint | null;
  verb: string;
  actor: string;
  runUuid: string;
}

/** Deletion paths journal against the vmid, never a NetBox id (proxbox-api.md §5.9). */
function journal(a: Audit, result: string, kind: JournalKind, extra: { upid?: string | null; reason?: string; error?: string } = {}): void {
  const lines: [string, string | number][] = [
    ['target_vmid', a.record.vmid], ['target_kind', a.record.kind], ['run_uuid', a.runUuid], ['deletion_request_id', a.record.id],
  ];
  if (extra.reason !== undefined) lines.push(['reason', scrubSecrets(extra.reason)]);
  const comments = journalComments({
    verb: a.verb, actor: a.actor, result, endpoint: a.endpoint, endpointId: a.record.endpoint_id, upid: extra.upid ?? null,
    errorDetail: extra.error === undefined ? null : scrubSecrets(extra.error), extra: lines,
  });
  a.cluster.journal.write(a.record.vmid, kind, comments);
}

function mismatch(record: StoredDeletion, body: Target): string | null {
  if (record.vmid !== body.vmid) return `vmid mismatch: request has ${record.vmid}, body has ${body.vmid}`;
  if (record.node !== body.node) return `node mismatch: request has '${record.node}', body has '${body.node}'`;
  if (record.kind !== body.kind) return `kind mismatch: request has '${record.kind}', body has '${body.kind}'`;
  return null;
}

const journalFailed = (c: Context) => e4(c, 502, JOURNAL_FAILURE.message, JOURNAL_FAILURE.detail);

/**
 * Resolves the record and runs the gate against the record's endpoint; a refusal is journalled
 * as `blocked` and leaves the state alone (proxbox-api.md §6).
 */
function begin(c: Context, cluster: FakeProxmox, id: number, verb: string): { audit: Audit } | { response: Response } {
  const record = cluster.deletions.get(id);
  if (!record) return { response: e2(c, 404, `No deletion request with id=${id}.`) };
  const gate = writeGate(cluster, record.endpoint_id);
  const audit: Audit = {
    cluster, record, endpoint: gate.ok ? gate.endpoint : (cluster.getEndpoint(record.endpoint_id) ?? null),
    verb, actor: actorOf(c), runUuid: randomUUID(),
  };
  if (!gate.ok) {
    try {
      journal(audit, 'blocked', 'warning', { error: gate.body.detail });
    } catch (e) {
      if (e instanceof JournalWriteError) return { response: journalFailed(c) };
      throw e;
    }
    return { response: e3(c, 403, gate.body) };
  }
  return { audit };
}

function transition(c: Context, a: Audit, state: DeletionState, extra: { reason?: string } = {}): Response {
  a.cluster.deletions.setState(a.record, state);
  try {
    journal(a, state, 'info', extra);
  } catch (e) {
    if (e instanceof JournalWriteError) return journalFailed(c);
    throw e;
  }
  return c.json(recordBody(a.record));
}

function execute(c: Context, a: Audit): Response {
  const { cluster, record } = a;
  cluster.deletions.setState(record, 'executing');
  let upid: string;
  try {
    upid = cluster.connect(record.endpoint_id).destroy(record.node, record.kind, record.vmid, { purge: 1 });
  } catch (e) {
    cluster.deletions.setState(record, 'failed');
    try {
      journal(a, 'failed', 'danger', { error: errorText(e) });
    } catch (journalError) {
      if (!(journalError instanceof JournalWriteError)) throw journalError;
    }
    return e2(c, 502, scrubSecrets(errorText(e)));
  }
  try {
    journal(a, 'succeeded', 'success', { upid });
  } catch (e) {
    cluster.deletions.setState(record, 'failed');
    if (e instanceof JournalWriteError) return journalFailed(c);
    throw e;
  }
  cluster.deletions.setState(record, 'succeeded');
  return c.json({ upid, run_uuid: a.runUuid });
}

/** proxbox-api.md §6 approve, reject and execute, plus the optional proxbox-api.md §10 (a) registration. */
export function deletionRoutes(cluster: FakeProxmox, registerEnabled: () => boolean): Hono {
  const app = new Hono();

  app.post('/intent/deletion-requests/:id/approve', async (c) => {
    const id = intParam(c.req.param('id'), 'path', 'id', true);
    const body = await parseBody(c, DeletionTarget);
    if (!id.ok || !body.ok) return e1(c, errorsOf(id, body));
    const started = begin(c, cluster, id.value!, 'deletion_request_approve');
    if ('response' in started) return started.response;
    const { record } = started.audit;
    const wrong = mismatch(record, body.value);
    if (wrong) return e2(c, 409, wrong);
    if (record.state !== 'pending' && record.state !== 'approved') {
      return e2(c, 409, `Deletion request is ${record.state}; only pending requests can be approved.`);
    }
    return transition(c, started.audit, 'approved');
  });

  app.post('/intent/deletion-requests/:id/reject', async (c) => {
    const id = intParam(c.req.param('id'), 'path', 'id', true);
    const body = await parseBody(c, DeletionRejectBody);
    if (!id.ok || !body.ok) return e1(c, errorsOf(id, body));
    const started = begin(c, cluster, id.value!, 'deletion_request_reject');
    if ('response' in started) return started.response;
    const { record } = started.audit;
    if (record.state === 'executing' || record.state === 'succeeded') {
      return e2(c, 409, `Deletion request is ${record.state}; it can no longer be rejected.`);
    }
    return transition(c, started.audit, 'rejected', { reason: body.value.reason });
  });

  app.post('/intent/deletion-requests/:id/execute', async (c) => {
    const id = intParam(c.req.param('id'), 'path', 'id', true);
    const body = await parseBody(c, DeletionTarget);
    if (!id.ok || !body.ok) return e1(c, errorsOf(id, body));
    const started = begin(c, cluster, id.value!, 'deletion_request_execute');
    if ('response' in started) return started.response;
    const { record } = started.audit;
    const wrong = mismatch(record, body.value);
    if (wrong) return e2(c, 409, wrong);
    if (record.state !== 'approved') return e2(c, 409, `Deletion request is ${record.state}; execute requires approved.`);
    return execute(c, started.audit);
  });

  app.post('/intent/deletion-requests', async (c, next) => {
    if (!registerEnabled()) return next();
    const body = await parseBody(c, RegisterDeletionRequest);
    if (!body.ok) return e1(c, body.errors);
    const req = body.value;
    const gate = writeGate(cluster, req.endpoint_id);
    if (!gate.ok) return e3(c, 403, gate.body);
    const target = { endpoint_id: req.endpoint_id, vmid: req.vmid, node: req.node, kind: req.kind };
    if (req.client_ref != null) {
      const existing = cluster.deletions.findByClientRef(req.client_ref);
      if (existing) {
        const same = existing.endpoint_id === target.endpoint_id && existing.vmid === target.vmid && existing.node === target.node && existing.kind === target.kind;
        if (!same) return e2(c, 409, `client_ref '${req.client_ref}' is already registered for a different target (deletion request ${existing.id}).`);
        return c.json({ ...existing }, 200);
      }
    }
    const record = cluster.deletions.create({ ...target, requested_by: req.requested_by, client_ref: req.client_ref ?? null });
    const audit: Audit = { cluster, record, endpoint: gate.endpoint, verb: 'deletion_request_register', actor: actorOf(c), runUuid: randomUUID() };
    try {
      journal(audit, 'pending', 'info');
    } catch (e) {
      if (e instanceof JournalWriteError) return journalFailed(c);
      throw e;
    }
    return c.json({ ...record }, 201);
  });

  return app;
}
