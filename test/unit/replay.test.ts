import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { Worker } from '@temporalio/worker';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils';
import { bundleWorkflows, workflowSinks } from '../../runtime/worker';
import { payloadCodecFromConfig, temporalDataConverter } from '../../infra/payload-codec';
import { TEST_PAYLOAD_KEY } from '../support/payload-key';

const HISTORY_DIR = fileURLToPath(new URL('../histories', import.meta.url));
const files = readdirSync(HISTORY_DIR).filter((f) => f.endsWith('.json')).sort();

/**
 * Replays committed workflow histories against today's workflow code: a change that would break running workflows
 * (a non-deterministic edit) fails here instead of in production. Record new ones with RECORD_HISTORIES=1 npm test.
 */
describe('workflow histories replay against the current code', () => {
  it('has committed histories of the apply and deletion workflows', () => {
    expect(files.some((f) => f.startsWith('apply-'))).toBe(true);
    expect(files.some((f) => f.startsWith('deletion-'))).toBe(true);
  });

  it('has the history of an apply run that continued as new, and of the run that finished its chain', () => {
    const lastEvent = (file: string) => (JSON.parse(readFileSync(`${HISTORY_DIR}/${file}`, 'utf8')) as { events: { eventType: string }[] }).events.at(-1)!.eventType;
    const continuedInput = (JSON.parse(readFileSync(`${HISTORY_DIR}/apply-continued-final.json`, 'utf8')) as { events: { workflowExecutionStartedEventAttributes?: { continuedExecutionRunId?: string } }[] })
      .events[0]!.workflowExecutionStartedEventAttributes?.continuedExecutionRunId;
    expect(lastEvent('apply-continued-as-new.json')).toBe('EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW');
    expect(lastEvent('apply-continued-final.json')).toBe('EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED');
    expect(continuedInput, 'the final run was started by a continue-as-new').toBeTruthy();
  });

  it('has the history of a traced apply run: its start and its activities carry the trace header', () => {
    const text = readFileSync(`${HISTORY_DIR}/apply-traced.json`, 'utf8');
    const events = (JSON.parse(text) as { events: { eventType: string; workflowExecutionStartedEventAttributes?: { header?: { fields?: object } } }[] }).events;
    expect(Object.keys(events[0]!.workflowExecutionStartedEventAttributes?.header?.fields ?? {})).toContain('_tracer-data');
    expect(events.filter((e) => e.eventType === 'EVENT_TYPE_ACTIVITY_TASK_SCHEDULED' && JSON.stringify(e).includes('_tracer-data')).length).toBeGreaterThan(0);
  });

  it.each(files)('%s replays deterministically', async (file) => {
    const history = historyFromJSON(JSON.parse(readFileSync(`${HISTORY_DIR}/${file}`, 'utf8')));
    const workflowBundle = await sharedBundle();
    // Histories recorded with payload encryption on replay with the payload codec, as a worker does.
    const dataConverter = file.includes('-encrypted') ? temporalDataConverter(payloadCodecFromConfig({ TEMPORAL_PAYLOAD_ENCRYPTION_KEY: TEST_PAYLOAD_KEY })) : undefined;
    // Traced runs hand their spans to the `exporter` sink, as on a worker (replay calls no sink, but it must exist).
    await expect(Worker.runReplayHistory({ workflowBundle, replayName: file, sinks: workflowSinks(), ...(dataConverter ? { dataConverter } : {}) }, history)).resolves.toBeUndefined();
  }, 120_000);

  it('has encrypted histories, which hold no plaintext payload and do not replay without the key', async () => {
    const encrypted = files.filter((f) => f.includes('-encrypted'));
    expect(encrypted.length).toBeGreaterThanOrEqual(2);
    for (const file of encrypted) {
      const json: unknown = JSON.parse(readFileSync(`${HISTORY_DIR}/${file}`, 'utf8'));
      expect(payloadEncodings(json).size).toBeGreaterThan(0);
      expect([...payloadEncodings(json)]).toEqual(['binary/encrypted']);
      const history = historyFromJSON(json);
      await expect(Worker.runReplayHistory({ workflowBundle: await sharedBundle(), replayName: `${file}-nokey` }, history)).rejects.toThrow();
    }
  }, 120_000);
});

/**
 * The encodings of every payload in a history's JSON that carries our data. Aside: search attributes (Temporal indexes
 * them, they stay readable) and the SDK's own bookkeeping in a local activity's marker (`details.data`: sequence
 * number, attempt, activity type, times; its `details.result` is ours and encrypted).
 */
function payloadEncodings(value: unknown, found = new Set<string>(), key = ''): Set<string> {
  if (Array.isArray(value)) value.forEach((v) => payloadEncodings(v, found));
  else if (value && typeof value === 'object') {
    const o = value as Record<string, unknown>;
    const encoding = (o.metadata as Record<string, unknown> | undefined)?.encoding;
    if (typeof encoding === 'string' && 'data' in o) found.add(Buffer.from(encoding, 'base64').toString());
    else {
      for (const [k, v] of Object.entries(o)) {
        if (k === 'searchAttributes' || (key === 'markerRecordedEventAttributes' && k === 'details')) continue;
        payloadEncodings(v, found, k);
      }
      if (key === 'markerRecordedEventAttributes') payloadEncodings((o.details as Record<string, unknown> | undefined)?.result, found);
    }
  }
  return found;
}

let bundle: ReturnType<typeof bundleWorkflows> | null = null;
function sharedBundle() {
  bundle ??= bundleWorkflows();
  return bundle;
}
