import { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { resolveTemporalCli } from '../../infra/temporal-dev-server';
import { WORKFLOW_SEARCH_ATTRIBUTES } from '../../workflows/definitions';
import { sharedBundle } from './stack';

/**
 * A workflow on its own: @temporalio/testing's environment on the real Temporal dev server (the time-skipping test
 * server is a separate download this project does not ship), with the project's search attributes registered.
 */
export async function startWorkflowEnvironment(): Promise<TestWorkflowEnvironment> {
  return TestWorkflowEnvironment.createLocal({
    server: { executable: { type: 'existing-path', path: await resolveTemporalCli() }, searchAttributes: [...WORKFLOW_SEARCH_ATTRIBUTES], ip: '127.0.0.1' },
  });
}

let seq = 0;

/**
 * Runs `body` while a worker with the real workflow bundle and the given (mocked) activities polls a task queue of
 * its own, so tests in one file never pick up each other's tasks.
 */
export async function withWorker<T>(env: TestWorkflowEnvironment, prefix: string, activities: object, body: (taskQueue: string) => Promise<T>): Promise<T> {
  const taskQueue = `${prefix}-${++seq}-${Math.random().toString(36).slice(2, 8)}`;
  const worker = await Worker.create({ connection: env.nativeConnection, taskQueue, workflowBundle: await sharedBundle(), activities });
  return worker.runUntil(() => body(taskQueue));
}
