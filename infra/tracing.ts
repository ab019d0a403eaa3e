import { context, propagation, trace, type Tracer } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { Resource } from '@opentelemetry/resources';
import { BatchSpanProcessor, NoopSpanProcessor, type SpanExporter, type SpanProcessor } from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { ATTR_SERVICE_NAME, ATTR_SERVICE_VERSION } from '@opentelemetry/semantic-conventions';
import { SERVICE_VERSION } from '../domain/service-version';

/** The name every span of ours is recorded under (the instrumentation scope). */
export const TRACER_NAME = 'proxbox-intent';

/** The tracer of the process: records nothing (and costs next to nothing) while tracing is off. */
export function tracer(): Tracer {
  return trace.getTracer(TRACER_NAME, SERVICE_VERSION);
}

export interface TracingEnv {
  OTEL_EXPORTER_OTLP_ENDPOINT?: string | undefined;
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT?: string | undefined;
}

/**
 * Where spans go, by the standard variables: OTEL_EXPORTER_OTLP_TRACES_ENDPOINT as it is, else
 * OTEL_EXPORTER_OTLP_ENDPOINT with `/v1/traces` appended (OTLP/HTTP). Null: tracing is off.
 */
export function tracesEndpointOf(env: TracingEnv): string | null {
  if (env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) return env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT;
  if (env.OTEL_EXPORTER_OTLP_ENDPOINT) return `${env.OTEL_EXPORTER_OTLP_ENDPOINT.replace(/\/+$/, '')}/v1/traces`;
  return null;
}

export interface Tracing {
  enabled: boolean;
  /** Where the spans of workflow code (recorded in the workflow sandbox, handed over by a sink) go as well. */
  spanProcessor: SpanProcessor;
  resource: Resource;
  /** Sends what is still buffered and unregisters the process's tracer provider. */
  shutdown(): Promise<void>;
}

let active: Tracing | null = null;

/**
 * Tracing of this process: the OTLP/HTTP exporter (JSON) and the W3C trace-context propagator when an endpoint is
 * configured; nothing at all otherwise. One per process at a time: a second start replaces the first.
 */
export async function startTracing(opts: { serviceName: string; endpoint: string | null; exporter?: SpanExporter }): Promise<Tracing> {
  if (active) await active.shutdown();
  const resource = new Resource({ [ATTR_SERVICE_NAME]: opts.serviceName, [ATTR_SERVICE_VERSION]: SERVICE_VERSION });
  if (!opts.endpoint && !opts.exporter) {
    return { enabled: false, spanProcessor: new NoopSpanProcessor(), resource, shutdown: async () => {} };
  }
  const spanProcessor = new BatchSpanProcessor(opts.exporter ?? new OTLPTraceExporter({ url: opts.endpoint! }), { scheduledDelayMillis: 1000 });
  const provider = new NodeTracerProvider({ resource, spanProcessors: [spanProcessor] });
  // Installs the provider, the AsyncLocalStorage context manager and the W3C traceparent propagator for the process.
  provider.register();
  const started: Tracing = {
    enabled: true, spanProcessor, resource,
    async shutdown() {
      if (active === started) active = null;
      await provider.shutdown().catch(() => {});
      trace.disable();
      context.disable();
      propagation.disable();
    },
  };
  active = started;
  return started;
}
