import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { PayloadCodec } from '@temporalio/common';
import { DefaultLogger, NativeConnection, Runtime, Worker, bundleWorkflowCode, type LogLevel, type RuntimeOptions, type WorkflowBundle } from '@temporalio/worker';
import { createApplyActivities } from '../activities/apply';
import { createDeletionActivities } from '../activities/deletion';
import type { ActivityDeps } from '../activities/deps';
import { createReconcilerActivities, type ReconcilerDeps } from '../activities/reconciler';
import { createDeliveryActivities, type DeliveryDeps } from '../activities/deliveries';
import { ConcealDatabaseErrors } from './activity-errors';
import { temporalDataConverter } from '../infra/payload-codec';
import type { TemporalConnectionOptions } from '../config/temporal-connection';

export const WORKFLOWS_PATH = fileURLToPath(new URL('../workflows/index.ts', import.meta.url));
/**
 * The workflow bundle `npm run build` writes (dist/workflow-bundle.js, next to the compiled dist/runtime/): the
 * compiled worker loads it instead of bundling at start. Run from source, this path does not exist and the worker bundles.
 */
export const PREBUILT_WORKFLOW_BUNDLE = fileURLToPath(new URL('../workflow-bundle.js', import.meta.url));

/** The prebuilt bundle's path when this is the compiled build, else null (the worker bundles WORKFLOWS_PATH at start). */
export function prebuiltWorkflowBundle(): string | null {
  return existsSync(PREBUILT_WORKFLOW_BUNDLE) ? PREBUILT_WORKFLOW_BUNDLE : null;
}

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
  deliveries: DeliveryDeps;
  bundle?: WorkflowBundle;
  /** Workflows waiting for days (pending deletions) leave the cache; they are replayed when something happens. */
  maxCachedWorkflows?: number;
  maxConcurrentActivityTaskExecutions?: number;
  /** After shutdown() (SIGTERM), running activities get this long to finish before they are cancelled. */
  shutdownGraceMs?: number;
}

let runtimeInstalled = false;

/**
 * The SDK's own logging (bundling, state changes) at the configured level, and its Prometheus exporter when
 * `telemetry.metricsAddress` is given (TEMPORAL_METRICS_ADDRESS); installed once per process, so the first call's
 * settings hold for every worker of the process.
 */
export function installWorkerRuntime(level: 'debug' | 'info' | 'warn' | 'error', telemetry: { metricsAddress?: string | undefined } = {}): void {
  if (runtimeInstalled) return;
  runtimeInstalled = true;
  Runtime.install({ logger: new DefaultLogger(level.toUpperCase() as LogLevel), telemetryOptions: sdkTelemetry(telemetry.metricsAddress) });
}

/** The SDK's worker metrics (task slots, poll and schedule-to-start latencies, …) in Prometheus form, in seconds. */
function sdkTelemetry(metricsAddress: string | undefined): RuntimeOptions['telemetryOptions'] {
  return metricsAddress ? { metrics: { prometheus: { bindAddress: metricsAddress, countersTotalSuffix: true, useSecondsForDurations: true } } } : {};
}

export async function createIntentWorker(opts: WorkerOptions): Promise<{ worker: Worker; connection: NativeConnection }> {
  const connection = await NativeConnection.connect(opts.connection);
  const dataConverter = temporalDataConverter(opts.payloadCodec);
  const prebuilt = opts.bundle ? null : prebuiltWorkflowBundle();
  const worker = await Worker.create({
    connection,
    ...(dataConverter ? { dataConverter } : {}),
    namespace: opts.namespace,
    taskQueue: opts.taskQueue,
    ...(opts.bundle ? { workflowBundle: opts.bundle } : prebuilt ? { workflowBundle: { codePath: prebuilt } } : { workflowsPath: WORKFLOWS_PATH }),
    activities: { ...createApplyActivities(opts.deps), ...createDeletionActivities(opts.deps), ...createReconcilerActivities(opts.reconciler), ...createDeliveryActivities(opts.deliveries) },
    interceptors: { activity: [() => ({ inbound: new ConcealDatabaseErrors() })] },
    maxCachedWorkflows: opts.maxCachedWorkflows ?? 500,
    maxConcurrentActivityTaskExecutions: opts.maxConcurrentActivityTaskExecutions ?? 64,
    // Heartbeats carry cancellation: keep them frequent enough that a cancel reaches in-flight HTTP calls in seconds.
    maxHeartbeatThrottleInterval: '2s',
    shutdownGraceTime: opts.shutdownGraceMs ?? 0,
  });
  return { worker, connection };
}
