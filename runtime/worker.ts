import { fileURLToPath } from 'node:url';
import type { PayloadCodec } from '@temporalio/common';
import { DefaultLogger, NativeConnection, Runtime, Worker, bundleWorkflowCode, type LogLevel, type WorkflowBundle } from '@temporalio/worker';
import { createApplyActivities } from '../activities/apply';
import { createDeletionActivities } from '../activities/deletion';
import type { ActivityDeps } from '../activities/deps';
import { createReconcilerActivities, type ReconcilerDeps } from '../activities/reconciler';
import { ConcealDatabaseErrors } from './activity-errors';
import { temporalDataConverter } from '../infra/payload-codec';
import type { TemporalConnectionOptions } from '../config/temporal-connection';

export const WORKFLOWS_PATH = fileURLToPath(new URL('../workflows/index.ts', import.meta.url));

export function bundleWorkflows(): Promise<WorkflowBundle> {
  return bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger: { log() {}, trace() {}, debug() {}, info() {}, warn() {}, error: (m) => console.error(m) } });
}

export interface WorkerOptions {
  connection: TemporalConnectionOptions;
  /** Encrypts every payload this worker writes to history and decrypts what it reads (null: payloads stay readable). */
  payloadCodec: PayloadCodec | null;
  namespace: string;
  taskQueue: string;
  deps: ActivityDeps;
  reconciler: ReconcilerDeps;
  bundle?: WorkflowBundle;
  /** Workflows waiting for days (pending deletions) leave the cache; they are replayed when something happens. */
  maxCachedWorkflows?: number;
  maxConcurrentActivityTaskExecutions?: number;
  /** After shutdown() (SIGTERM), running activities get this long to finish before they are cancelled. */
  shutdownGraceMs?: number;
}

let runtimeInstalled = false;

/** The SDK's own logging (bundling, state changes) at the configured level; installed once per process. */
export function installWorkerRuntime(level: 'debug' | 'info' | 'warn' | 'error'): void {
  if (runtimeInstalled) return;
  runtimeInstalled = true;
  Runtime.install({ logger: new DefaultLogger(level.toUpperCase() as LogLevel) });
}

export async function createIntentWorker(opts: WorkerOptions): Promise<{ worker: Worker; connection: NativeConnection }> {
  const connection = await NativeConnection.connect(opts.connection);
  const dataConverter = temporalDataConverter(opts.payloadCodec);
  const worker = await Worker.create({
    connection,
    ...(dataConverter ? { dataConverter } : {}),
    namespace: opts.namespace,
    taskQueue: opts.taskQueue,
    ...(opts.bundle ? { workflowBundle: opts.bundle } : { workflowsPath: WORKFLOWS_PATH }),
    activities: { ...createApplyActivities(opts.deps), ...createDeletionActivities(opts.deps), ...createReconcilerActivities(opts.reconciler) },
    interceptors: { activity: [() => ({ inbound: new ConcealDatabaseErrors() })] },
    maxCachedWorkflows: opts.maxCachedWorkflows ?? 500,
    maxConcurrentActivityTaskExecutions: opts.maxConcurrentActivityTaskExecutions ?? 64,
    // Heartbeats carry cancellation: keep them frequent enough that a cancel reaches in-flight HTTP calls in seconds.
    maxHeartbeatThrottleInterval: '2s',
    shutdownGraceTime: opts.shutdownGraceMs ?? 0,
  });
  return { worker, connection };
}
