import { ROOT_CONTEXT, SpanKind, SpanStatusCode, propagation } from '@opentelemetry/api';
import type { MiddlewareHandler } from 'hono';
import { routePath } from 'hono/route';
import { tracer } from '../infra/tracing';

/**
 * One server span per request, named by its route template (`POST /api/v1/hooks/netbox`), continuing the caller's
 * trace when it sends a W3C `traceparent`. Everything the request does (the workflow it starts, its upstream calls)
 * runs inside it. No header, query string or body is recorded.
 */
export function traceRequests(): MiddlewareHandler {
  return async (c, next) => {
    const carrier: Record<string, string> = {};
    c.req.raw.headers.forEach((value, key) => { if (key === 'traceparent' || key === 'tracestate') carrier[key] = value; });
    const parent = propagation.extract(ROOT_CONTEXT, carrier);
    const method = c.req.method;
    await tracer().startActiveSpan(method, { kind: SpanKind.SERVER, attributes: { 'http.request.method': method, 'url.path': c.req.path } }, parent, async (span) => {
      try {
        await next();
      } finally {
        // The route of the handler that answered (the last one the request reached).
        const route = routePath(c);
        span.updateName(`${method} ${route}`);
        span.setAttribute('http.route', route);
        span.setAttribute('http.response.status_code', c.res.status);
        if (c.res.status >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
        span.end();
      }
    });
  };
}
