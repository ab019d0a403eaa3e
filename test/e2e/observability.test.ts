import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signWebhookBody } from '../../domain/webhook-signature';
import * as m from '../support/merges';
import { startOtlpReceiver, type ReceivedSpan } from '../support/otlp-receiver';
import { rawHistoryText } from '../support/raw-history';
import { recordHistoryIfAsked } from '../support/histories';
import { NETBOX_TOKEN, PROXBOX_KEY, WEBHOOK_SECRET, eventually, startStack, type Stack } from '../support/stack';

/** NetBox's side of a trace: the caller of the merge hook, as a W3C traceparent. */
function callerTrace() {
  const traceId = randomBytes(16).toString('hex');
  const spanId = randomBytes(8).toString('hex');
  return { traceId, spanId, traceparent: `00-${traceId}-${spanId}-01` };
}

/** Delivers a merge's webhook ourselves, as NetBox would, inside the caller's trace when one is given. */
async function deliverMerge(s: Stack, branchId: number, traceparent?: string): Promise<void> {
  const body = await m.mergeUndelivered(s, branchId);
  const res = await fetch(`${s.api}/api/v1/hooks/netbox`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-hook-signature': signWebhookBody(WEBHOOK_SECRET, body), ...(traceparent ? { traceparent } : {}) },
    body,
  });
  expect(res.status).toBeLessThan(300);
}

async function finishedJobOf(s: Stack, branchId: number): Promise<any> {
  const job = await eventually(async () => (await m.jobsOfBranch(s, branchId))[0], `the job of branch ${branchId}`, 120_000);
  return eventually(async () => {
    const j = (await s.call(s.tokens.carol, 'GET', `/api/v1/apply-jobs/${job.id}`)).body;
    return ['succeeded', 'partial', 'failed'].includes(j.state) ? j : undefined;
  }, `job ${job.id} to finish`, 120_000);
}

describe('tracing and logs with an OTLP endpoint configured', () => {
  let s: Stack;
  let receiver: Awaited<ReturnType<typeof startOtlpReceiver>>;
  const lines: string[] = [];
  beforeAll(async () => {
    receiver = await startOtlpReceiver();
    s = await startStack({
      env: { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, LOG_LEVEL: 'info' },
      logDestination: { write: (line: string) => { lines.push(line); } },
    });
  });
  afterAll(async () => {
    await s?.stop();
    await receiver?.close();
  });

  it('one trace links the webhook request, the workflow start, the run, the activity and the proxbox-api call it made', async () => {
    const { branch, vmid } = m.guestBranch(s, 'traced', 811);
    const caller = callerTrace();
    await deliverMerge(s, branch.id, caller.traceparent);
    const job = await finishedJobOf(s, branch.id);
    expect(job.state).toBe('succeeded');

    // The proxbox-api call was made inside the trace, and told proxbox-api so.
    const apply = m.appliesTo(s, vmid)[0]!;
    const [, sentTrace, sentParent] = apply.headers.traceparent!.split('-');
    expect(sentTrace).toBe(caller.traceId);

    const byId = (spans: ReceivedSpan[]) => new Map(spans.map((sp) => [sp.spanId, sp]));
    // The run's span ends with the run: wait until the chain from the proxbox-api call up to the caller is whole.
    const chain = await eventually(async () => {
      const spans = byId(receiver.spans.filter((sp) => sp.traceId === caller.traceId));
      const out: ReceivedSpan[] = [];
      for (let sp = spans.get(sentParent!); sp; sp = sp.parentSpanId ? spans.get(sp.parentSpanId) : undefined) out.push(sp);
      return out.at(-1)?.parentSpanId === caller.spanId ? out : undefined;
    }, 'the spans from the proxbox-api call up to the webhook request', 120_000);

    expect(chain.map((sp) => sp.name)).toEqual([
      'POST /intent/apply',
      'RunActivity:applyGuestChange',
      'StartActivity:applyGuestChange',
      'RunWorkflow:ApplyWorkflow',
      'StartWorkflow:ApplyWorkflow',
      'POST /api/v1/hooks/netbox',
    ]);
    const [call, , , , , request] = chain;
    expect(call!.attributes).toMatchObject({ 'http.request.method': 'POST', 'url.template': '/intent/apply', 'http.response.status_code': 200, 'peer.service': 'proxbox-api' });
    expect(request!.attributes).toMatchObject({ 'http.route': '/api/v1/hooks/netbox', 'http.response.status_code': expect.any(Number) });
    expect(new Set(chain.map((sp) => sp.service))).toEqual(new Set(['proxbox-intent']));
    // NetBox reads made by the activities are spans of the same trace too.
    expect(receiver.spans.some((sp) => sp.traceId === caller.traceId && sp.attributes['peer.service'] === 'netbox')).toBe(true);
    // No credential in anything exported.
    for (const secret of [PROXBOX_KEY, NETBOX_TOKEN, WEBHOOK_SECRET]) expect(receiver.bodies.join('\n')).not.toContain(secret);

    await recordHistoryIfAsked(s.system.temporal, job.workflowId, 'apply-traced');
  }, 240_000);

  it('a VM\'s log lines carry its job, workflow, run and VMID, and no line carries its cloud-init password or the API key', async () => {
    const password = 'Ci-Pw-4711-secret';
    s.netbox.addCustomField({ name: 'cloud_init_password', type: 'text', objectTypes: ['virtualization.virtualmachine'] });
    const branch = s.netbox.createBranch({ name: 'logged', owner: 'bob', customFields: { apply_to_proxmox: true } });
    s.netbox.createVm(branch.id, {
      name: 'logged-vm', cluster: 5, vcpus: '1.00', memory: 512,
      custom_fields: { proxmox_vm_id: 812, proxmox_vm_type: 'qemu', proxmox_node: 'pve01', proxmox_storage: 'local-lvm', cloud_init_user: 'ops', cloud_init_password: password },
    });
    // proxbox-api refuses the write and (against its contract) echoes the password and our key: the logger must not.
    s.proxbox.control.addFault({ method: 'POST', path: '^/intent/apply$', mode: 'fail', status: 400, times: 1,
      body: { detail: `cipassword=${password} refused for key ${PROXBOX_KEY}` } });
    await deliverMerge(s, branch.id);
    const job = await finishedJobOf(s, branch.id);
    expect(Object.values(job.perVmResults as Record<string, { vmid: number }>).find((r) => r.vmid === 812)).toMatchObject({ status: 'failed' });
    const description = await s.system.temporal.workflow.getHandle(job.workflowId).describe();

    const parsed = await eventually(async () => {
      const all = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
      return all.some((l) => l.vmid === 812 && l.status === 'failed') ? all : undefined;
    }, 'the log line of the failed VM', 60_000);
    const ofVm = parsed.filter((l) => l.vmid === 812);
    expect(ofVm.length).toBeGreaterThanOrEqual(2); // its dispatch and its outcome
    for (const line of ofVm) {
      expect(line).toMatchObject({ jobId: job.id, workflowId: job.workflowId, runId: description.runId, vmid: 812 });
      expect(typeof line.activityId).toBe('string');
    }
    const outcome = ofVm.find((l) => l.status === 'failed')!;
    expect(outcome).toMatchObject({ level: 'warn', msg: expect.stringContaining('create qemu 812 logged-vm: failed') });
    // The refusal is logged, without its secrets.
    expect(String(outcome.message)).toContain('cipassword=[redacted]');
    expect(String(outcome.message)).toContain('refused for key [redacted]');
    const everything = lines.join('');
    expect(everything).not.toContain(password);
    expect(everything).not.toContain(PROXBOX_KEY);
    expect(everything).not.toContain(NETBOX_TOKEN);
  }, 240_000);
});

describe('with no OTLP endpoint', () => {
  let s: Stack;
  let receiver: Awaited<ReturnType<typeof startOtlpReceiver>>;
  beforeAll(async () => {
    receiver = await startOtlpReceiver();
    s = await startStack();
  });
  afterAll(async () => {
    await s?.stop();
    await receiver?.close();
  });

  it('exports nothing, passes no trace on, and the run\'s history carries no trace header', async () => {
    const { branch, vmid } = m.guestBranch(s, 'untraced', 821);
    await deliverMerge(s, branch.id, callerTrace().traceparent);
    const job = await finishedJobOf(s, branch.id);
    expect(job.state).toBe('succeeded');
    expect(m.appliesTo(s, vmid)[0]!.headers.traceparent).toBeUndefined();
    expect(s.netbox.control.calls.some((c) => c.headers.traceparent !== undefined)).toBe(false);
    expect(await rawHistoryText(s.system.temporal, job.workflowId)).not.toContain('traceparent');
    expect(receiver.bodies).toEqual([]);
  }, 240_000);
});
