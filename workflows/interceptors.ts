import type { WorkflowInboundCallsInterceptor, WorkflowInterceptorsFactory, WorkflowOutboundCallsInterceptor } from '@temporalio/workflow';
import {
  OpenTelemetryInboundInterceptor, OpenTelemetryInternalsInterceptor, OpenTelemetryOutboundInterceptor,
} from '@temporalio/interceptors-opentelemetry/lib/workflow';

/** The header in which a traced start (the client's OpenTelemetry interceptor) passes its span to the workflow. */
const TRACE_HEADER = '_tracer-data';

/**
 * Not a workflow: the interceptors every workflow of the bundle runs with (runtime/worker.ts bundles this module next to
 * workflows/index.ts, and scripts/build.ts into the prebuilt bundle).
 *
 * A run started inside a trace (its start carries `_tracer-data`) continues it: spans of the run, of each activity,
 * child workflow, signal and continue-as-new it starts, which pass the trace on in their own headers. The spans leave
 * the sandbox through the `exporter` sink (dropped by a worker whose tracing is off). A run started without a trace
 * runs exactly as it did before tracing existed: no span, no header, no extra step, so its history does not change.
 * Whether a run is traced comes from its start event, the same on every replay.
 */
export const interceptors: WorkflowInterceptorsFactory = () => {
  let traced = false;
  let inbound: OpenTelemetryInboundInterceptor | null = null;
  let outbound: OpenTelemetryOutboundInterceptor | null = null;
  const otelIn = () => (inbound ??= new OpenTelemetryInboundInterceptor());
  const otelOut = () => (outbound ??= new OpenTelemetryOutboundInterceptor());

  const tracedInbound: WorkflowInboundCallsInterceptor = {
    execute(input, next) {
      traced = TRACE_HEADER in input.headers;
      return traced ? otelIn().execute(input, next) : next(input);
    },
    handleSignal: (input, next) => (traced ? otelIn().handleSignal(input, next) : next(input)),
    handleUpdate: (input, next) => (traced ? otelIn().handleUpdate(input, next) : next(input)),
    validateUpdate: (input, next) => (traced ? otelIn().validateUpdate(input, next) : next(input)),
    handleQuery: (input, next) => (traced ? otelIn().handleQuery(input, next) : next(input)),
  };
  const tracedOutbound: WorkflowOutboundCallsInterceptor = {
    scheduleActivity: (input, next) => (traced ? otelOut().scheduleActivity(input, next) : next(input)),
    scheduleLocalActivity: (input, next) => (traced ? otelOut().scheduleLocalActivity(input, next) : next(input)),
    startChildWorkflowExecution: (input, next) => (traced ? otelOut().startChildWorkflowExecution(input, next) : next(input)),
    continueAsNew: (input, next) => (traced ? otelOut().continueAsNew(input, next) : next(input)),
    signalWorkflow: (input, next) => (traced ? otelOut().signalWorkflow(input, next) : next(input)),
    getLogAttributes: (input, next) => (traced ? otelOut().getLogAttributes(input, next) : next(input)),
  };
  return { inbound: [tracedInbound], outbound: [tracedOutbound], internals: [new OpenTelemetryInternalsInterceptor()] };
};
