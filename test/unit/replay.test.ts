import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { Worker } from '@temporalio/worker';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils';
import { bundleWorkflows } from '../../runtime/worker';

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

  it.each(files)('%s replays deterministically', async (file) => {
    const history = historyFromJSON(JSON.parse(readFileSync(`${HISTORY_DIR}/${file}`, 'utf8')));
    const workflowBundle = await sharedBundle();
    await expect(Worker.runReplayHistory({ workflowBundle, replayName: file }, history)).resolves.toBeUndefined();
  }, 120_000);
});

let bundle: ReturnType<typeof bundleWorkflows> | null = null;
function sharedBundle() {
  bundle ??= bundleWorkflows();
  return bundle;
}
