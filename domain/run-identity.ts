/**
 * Deterministic run identities (netbox.md §2, §9.3). A branch can be merged, reverted and merged again, so the
 * identity of an apply run is the branch plus its merged_time normalised to epoch milliseconds. Pure: safe to import
 * from workflow code.
 */
import { toEpochMs } from '../contracts/netbox';

const SCHEMA_ID = /^[a-z0-9]{8}$/;
const APPLY_RUN_ID = /^apply:([a-z0-9]{8}):(0|[1-9]\d*)$/;
const DELETION_WORKFLOW_ID = /^deletion:([a-z0-9]{8}):(0|[1-9]\d*):([1-9]\d*)$/;

export interface ApplyRunIdentity { schemaId: string; mergedTimeMs: number }
export interface DeletionRequestIdentity extends ApplyRunIdentity { applyRunId: string; netboxObjectId: number }

export function isSchemaId(value: string): boolean {
  return SCHEMA_ID.test(value);
}

/** `apply:<schema_id>:<merged_time epoch ms>` from an epoch-ms value. */
export function applyRunIdFromMs(schemaId: string, mergedTimeMs: number): string {
  if (!SCHEMA_ID.test(schemaId)) throw new RangeError(`invalid branch schema_id: ${JSON.stringify(schemaId)}`);
  if (!Number.isSafeInteger(mergedTimeMs) || mergedTimeMs < 0) throw new RangeError(`invalid merged_time epoch ms: ${mergedTimeMs}`);
  return `apply:${schemaId}:${mergedTimeMs}`;
}

/**
 * `apply:<schema_id>:<merged_time epoch ms>`. REST (microseconds) and webhook (milliseconds) merged_time values of the
 * same merge give the same id.
 */
export function applyRunId(schemaId: string, mergedTimeIso: string): string {
  return applyRunIdFromMs(schemaId, toEpochMs(mergedTimeIso));
}

export function parseApplyRunId(id: string): ApplyRunIdentity | null {
  const m = APPLY_RUN_ID.exec(id);
  if (!m) return null;
  const mergedTimeMs = Number(m[2]);
  return Number.isSafeInteger(mergedTimeMs) ? { schemaId: m[1]!, mergedTimeMs } : null;
}

/** `deletion:<schema_id>:<ms>:<object_id>`: one deletion-request workflow per VM delete diff of one apply run. */
export function deletionRequestWorkflowId(applyRunIdValue: string, netboxObjectId: number): string {
  const run = parseApplyRunId(applyRunIdValue);
  if (!run) throw new RangeError(`invalid apply run id: ${JSON.stringify(applyRunIdValue)}`);
  if (!Number.isSafeInteger(netboxObjectId) || netboxObjectId < 1) throw new RangeError(`invalid NetBox object id: ${netboxObjectId}`);
  return `deletion:${run.schemaId}:${run.mergedTimeMs}:${netboxObjectId}`;
}

export function parseDeletionRequestWorkflowId(id: string): DeletionRequestIdentity | null {
  const m = DELETION_WORKFLOW_ID.exec(id);
  if (!m) return null;
  const mergedTimeMs = Number(m[2]);
  const netboxObjectId = Number(m[3]);
  if (!Number.isSafeInteger(mergedTimeMs) || !Number.isSafeInteger(netboxObjectId)) return null;
  return { schemaId: m[1]!, mergedTimeMs, netboxObjectId, applyRunId: `apply:${m[1]}:${mergedTimeMs}` };
}
