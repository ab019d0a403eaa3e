import { trace } from '@opentelemetry/api';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace-base';
import { describe, expect, it } from 'vitest';
import { routeTemplate, traceOutgoingCall } from '../../clients/http';
import { startTracing, tracer, tracesEndpointOf } from '../../infra/tracing';

describe('tracing configuration (infra/tracing.ts)', () => {
  it('is off without an OTLP endpoint, and takes the standard variables', () => {
    expect(tracesEndpointOf({})).toBeNull();
    expect(tracesEndpointOf({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318/' })).toBe('http://collector:4318/v1/traces');
    expect(tracesEndpointOf({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://a:4318', OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://b:4318/traces' })).toBe('http://b:4318/traces');
  });

  it('records nothing while off', async () => {
    const off = await startTracing({ serviceName: 'test', endpoint: null });
    expect(off.enabled).toBe(false);
    const span = tracer().startSpan('x');
    expect(span.isRecording()).toBe(false);
    span.end();
  });

  it('names outgoing calls by their route template, never with the query string, and passes the trace on', async () => {
    expect(routeTemplate('intent/apply?endpoint_id=3')).toBe('/intent/apply');
    expect(routeTemplate('api/virtualization/virtual-machines/42/')).toBe('/api/virtualization/virtual-machines/{id}/');
    expect(routeTemplate('intent/tasks/pve01/UPID%3Apve01%3A0001')).toBe('/intent/tasks/pve01/{upid}');
    expect(routeTemplate('api/plugins/branching/changes/?branch_id=1&token=abc')).toBe('/api/plugins/branching/changes/');

    const exporter = new InMemorySpanExporter();
    const on = await startTracing({ serviceName: 'test', endpoint: null, exporter });
    try {
      let sent: Record<string, string> = {};
      await traceOutgoingCall({ system: 'proxbox-api', baseUrl: 'https://proxbox.example:8443' }, 'post', 'intent/apply?endpoint_id=3', async (call) => {
        sent = call.headers;
        call.answered(200);
      });
      await expect(traceOutgoingCall({ system: 'netbox', baseUrl: 'http://netbox' }, 'GET', 'api/status/', async () => { throw new Error('NetBox refused Token nbt_abc.def'); })).rejects.toThrow();
      await on.spanProcessor.forceFlush();
      const [ok, failed] = exporter.getFinishedSpans();
      expect(ok!.name).toBe('POST /intent/apply');
      expect(ok!.attributes).toMatchObject({ 'http.request.method': 'POST', 'url.template': '/intent/apply', 'peer.service': 'proxbox-api', 'server.address': 'proxbox.example', 'server.port': 8443, 'http.response.status_code': 200 });
      expect(sent.traceparent).toBe(`00-${ok!.spanContext().traceId}-${ok!.spanContext().spanId}-01`);
      expect(failed!.status).toMatchObject({ code: 2, message: 'NetBox refused Token [redacted]' });
    } finally {
      await on.shutdown();
    }
    expect(trace.getTracer('after').startSpan('y').isRecording()).toBe(false);
  });
});
