import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Context } from '@temporalio/activity';
import type { PayloadCodec } from '@temporalio/common';
import { Resource } from '@opentelemetry/resources';
import { NoopSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { NativeConnection, Runtime, Worker, bundleWorkflowCode, type RuntimeOptions, type WorkflowBundle } from '@temporalio/worker';
import {
  OpenTelemetryActivityInboundInterceptor, OpenTelemetryActivityOutboundInterceptor, makeWorkflowExporter,
} from '@temporalio/interceptors-opentelemetry';
import { createApplyActivities } from '../activities/apply';
import { createDeletionActivities } from '../activities/deletion';
import type { ActivityDeps } from '../activities/deps';
import { createReconcilerActivities, type ReconcilerDeps } from '../activities/reconciler';
import { createDeliveryActivities, type DeliveryDeps } from '../activities/deliveries';
import { ConcealDatabaseErrors } from './activity-errors';
import { activityLogIds } from './activity-log-ids';
import { logger, temporalLogger, type LogLevel } from '../infra/logger';
import type { Tracing } from '../infra/tracing';
import { temporalDataConverter } from '../infra/payload-codec';
import type { TemporalConnectionOptions } from '../config/temporal-connection';

export const WORKFLOWS_PATH = fileURLToPath(new URL('../workflows/index.ts', import.meta.url));
/** The workflow interceptors (tracing) every bundle includes, the prebuilt one as well (scripts/build.ts). */
export const WORKFLOW_INTERCEPTORS_PATH = fileURLToPath(new URL('../workflows/interceptors.ts', import.meta.url));
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
  return bundleWorkflowCode({
    workflowsPath: WORKFLOWS_PATH, workflowInterceptorModules: [WORKFLOW_INTERCEPTORS_PATH],
    logger: { log() {}, trace() {}, debug() {}, info() {}, warn() {}, error: (m) => logger().error(m) },
  });
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
  /** The process's tracing: activity spans when it is on; workflow spans go to its span processor (dropped when off). */
  tracing?: Tracing;
}

/**
 * Where the spans of traced workflow runs leave the sandbox (workflows/interceptors.ts): the process's span processor,
 * nowhere while tracing is off. Every worker registers it, replay workers too, since any run may have been traced.
 */
export function workflowSinks(tracing?: Tracing) {
  return { exporter: makeWorkflowExporter(tracing?.spanProcessor ?? new NoopSpanProcessor(), tracing?.resource ?? Resource.empty()) };
}

let runtimeInstalled = false;

/**
 * The SDK's logging (its own, and what workflows and activities log) through the process's logger, from `level` up,
 * and its Prometheus exporter when `telemetry.metricsAddress` is given (TEMPORAL_METRICS_ADDRESS); installed once per
 * process, so the first call's settings hold for every worker of the process.
 */
export function installWorkerRuntime(level: LogLevel, telemetry: { metricsAddress?: string | undefined } = {}): void {
  if (runtimeInstalled) return;
  runtimeInstalled = true;
  Runtime.install({ logger: temporalLogger(level), telemetryOptions: sdkTelemetry(telemetry.metricsAddress) });
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
    interceptors: {
      // Bundled here only when running from source; a given or prebuilt bundle already holds them.
      ...(opts.bundle || prebuilt ? {} : { workflowModules: [WORKFLOW_INTERCEPTORS_PATH] }),
      activity: [
        () => ({ inbound: new ConcealDatabaseErrors() }),
        activityLogIds,
        ...(opts.tracing?.enabled ? [(ctx: Context) => ({
          inbound: new OpenTelemetryActivityInboundInterceptor(ctx), outbound: new OpenTelemetryActivityOutboundInterceptor(ctx),
        })] : []),
      ],
    },
    sinks: workflowSinks(opts.tracing),
    maxCachedWorkflows: opts.maxCachedWorkflows ?? 500,
    maxConcurrentActivityTaskExecutions: opts.maxConcurrentActivityTaskExecutions ?? 64,
    // Heartbeats carry cancellation: keep them frequent enough that a cancel reaches in-flight HTTP calls in seconds.
    maxHeartbeatThrottleInterval: '2s',
    shutdownGraceTime: opts.shutdownGraceMs ?? 0,
  });
  return { worker, connection };
}
