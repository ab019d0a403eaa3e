import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WorkflowUpdateFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { DeletionWorkflowInput } from '../../workflows/types';
import { DeletionRequestStore } from '../../db/deletion-requests';
import { decideUpdate, deletionStateQuery } from '../../workflows/definitions';
import { startStack, eventually, type Stack } from '../support/stack';
import { EXECUTE, REGISTER, apiSignedDecision, callsFor, getRequest, requestDeletion } from '../support/deletion-requests';
import { rawHistoryText } from '../support/raw-history';

const DAY_MS = 86_400_000;

describe('deletion requests keep no secrets and obey only decisions signed for their own workflow', () => {
  let s: Stack;
  beforeAll(async () => { s = await startStack(); });
  afterAll(async () => { await s?.stop(); });

  it('a branch deleting a VM with cloud-init user-data and a password leaves no trace of them in the row, the API or any history', async () => {
    s.netbox.addCustomField({ name: 'cloud_init_password', type: 'text', objectTypes: ['virtualization.virtualmachine'] });
    const secrets = {
      cloud_init_user_data: '#cloud-config\nchpasswd:\n  list: |\n    root:Userdata-Pw-4711',
      cloud_init_password: 'Custom-Field-Pw-0815',
      cloud_init_ssh_keys: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKeyMaterial ops@example',
    };
    const { request, jobId } = await requestDeletion(s, { vmid: 701, name: 'retire-701', node: 'pve01', kind: 'qemu', customFields: secrets });
    const leaks = (text: string) => ['Userdata-Pw-4711', 'Custom-Field-Pw-0815', 'KeyMaterial', 'cloud_init'].filter((v) => text.includes(v));

    // What identifies and re-creates the guest is kept.
    expect(request.metadataSnapshot).toMatchObject({ vmid: 701, node: 'pve01', kind: 'qemu', name: 'retire-701', memoryMib: 512 });
    expect(request.metadataSnapshot.customFields).toEqual({ proxmox_vm_id: 701, proxmox_vm_type: 'qemu', proxmox_node: 'pve01', proxmox_storage: 'local-lvm' });

    const row = await new DeletionRequestStore(s.system.database.db).get(request.id);
    expect(leaks(JSON.stringify(row))).toEqual([]);
    for (const path of [`/api/v1/deletion-requests/${request.id}`, '/api/v1/deletion-requests', `/api/v1/apply-jobs/${jobId}`]) {
      expect(leaks(JSON.stringify((await s.call(s.tokens.carol, 'GET', path)).body)), path).toEqual([]);
    }
    const job = (await s.call(s.tokens.carol, 'GET', `/api/v1/apply-jobs/${jobId}`)).body;
    await s.system.temporal.workflow.getHandle(job.workflowId).result();
    const applyHistory = await rawHistoryText(s.system.temporal, job.workflowId);
    expect(applyHistory).toContain('retire-701'); // the check reads plaintext payloads (this stack has no codec)
    expect(leaks(applyHistory)).toEqual([]);
    expect(leaks(await rawHistoryText(s.system.temporal, request.workflowId))).toEqual([]);
  });

  it('refuses a decision signed for request A when it arrives in another workflow started straight in Temporal for A', async () => {
    const { request } = await requestDeletion(s, { vmid: 702, name: 'retire-702', node: 'pve02', kind: 'qemu' });
    const input: DeletionWorkflowInput = {
      requestId: request.id, vmid: 702, node: 'pve02', kind: 'qemu', name: 'retire-702', requestedBy: 'alice',
      branchSchemaId: request.branch.schemaId, expiresAtMs: Date.now() + DAY_MS,
    };
    const impostorId = `deletion-impostor-${request.id}`;
    const impostor = await s.system.temporal.workflow.start('DeletionWorkflow', { taskQueue: s.taskQueue, workflowId: impostorId, args: [input] });
    try {
      // Correctly signed by the API for A's row and A's workflow id: valid there, but not in the impostor.
      const err = await impostor.executeUpdate(decideUpdate, { args: [apiSignedDecision(request)] }).then(() => null, (e: unknown) => e);
      expect(err).toBeInstanceOf(WorkflowUpdateFailedError);
      const cause = (err as WorkflowUpdateFailedError).cause as ApplicationFailure;
      expect(cause).toBeInstanceOf(ApplicationFailure);
      expect(cause.type).toBe('forged_decision');
      expect(cause.message).toBe(`Decision refused: the decision was issued for workflow ${request.workflowId}, not for this one (${impostorId}).`);
      // Signed for the impostor's id instead: it names another workflow than A's row.
      const forOwnId = await impostor.executeUpdate(decideUpdate, { args: [apiSignedDecision(request, { workflowId: impostorId })] })
        .then(() => null, (e: unknown) => e);
      expect(((forOwnId as WorkflowUpdateFailedError).cause as ApplicationFailure).message).toBe('Decision refused: the decision was issued for another deletion request.');
      expect(await impostor.query(deletionStateQuery)).toMatchObject({ state: 'pending', refusedAttempts: 2 });

      const after = await getRequest(s, request.id);
      expect(after).toMatchObject({ state: 'pending', authorizer: null, decidedAt: null });
      // Recorded once a minute at most, under `unverified`: a decision that fails the workflow's checks names nobody.
      expect(after.history.filter((h: any) => h.outcome === 'refused').map((h: any) => [h.actor, h.action])).toEqual([['unverified', 'approve']]);
      expect(callsFor(s, 'POST', REGISTER, 702)).toHaveLength(0);
      expect(callsFor(s, 'POST', EXECUTE, 702)).toHaveLength(0);
    } finally {
      await impostor.terminate('test over');
    }

    // The request's own workflow still takes the API's decisions.
    const res = await s.call(s.tokens.bob, 'POST', `/api/v1/deletion-requests/${request.id}/reject`, { reason: 'kept' });
    expect(res.status).toBe(200);
    await eventually(async () => ((await getRequest(s, request.id)).state === 'rejected' ? true : undefined), 'the rejection');
  });
});
