import type { MiddlewareHandler } from 'hono';
import { routePath } from 'hono/route';
import type { ProcessMetrics } from '../infra/metrics';

/** Counts every request and its duration by method, route pattern (never the raw path) and status. */
export function requestMetrics(metrics: ProcessMetrics): MiddlewareHandler {
  return async (c, next) => {
    const started = performance.now();
    await next();
    const labels = { method: c.req.method, route: routePath(c), status: String(c.res.status) };
    metrics.httpRequests.inc(labels);
    metrics.httpDuration.observe(labels, (performance.now() - started) / 1000);
  };
}

/**
 * Counts NetBox webhooks by outcome, read from the answer itself: the start's outcome (`started`, …), `ignored`, or
 * the problem's code (`signature_invalid`, `merge_too_old`, …). Codes and outcomes are a closed set: no ids in labels.
 */
export function webhookMetrics(metrics: ProcessMetrics): MiddlewareHandler {
  return async (c, next) => {
    await next();
    let outcome = `http_${c.res.status}`;
    try {
      const body = (await c.res.clone().json()) as { outcome?: unknown; ignored?: unknown; code?: unknown };
      if (typeof body.outcome === 'string') outcome = body.outcome;
      else if (body.ignored !== undefined) outcome = 'ignored';
      else if (typeof body.code === 'string') outcome = body.code;
    } catch { /* not JSON: the status says enough */ }
    metrics.webhooks.inc({ outcome });
  };
}
