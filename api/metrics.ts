import type { MiddlewareHandler } from 'hono';
import { routePath } from 'hono/route';

/** Request counters and latency sums per route, rendered in the Prometheus text format. */
export class Metrics {
  private readonly requests = new Map<string, { count: number; seconds: number }>();

  middleware(): MiddlewareHandler {
    return async (c, next) => {
      const started = performance.now();
      await next();
      const key = `${c.req.method} ${routePath(c)} ${c.res.status}`;
      const entry = this.requests.get(key) ?? { count: 0, seconds: 0 };
      entry.count += 1;
      entry.seconds += (performance.now() - started) / 1000;
      this.requests.set(key, entry);
    };
  }

  render(): string {
    const lines = [
      '# HELP proxbox_intent_http_requests_total HTTP requests served.',
      '# TYPE proxbox_intent_http_requests_total counter',
      '# HELP proxbox_intent_http_request_seconds_sum Time spent serving HTTP requests.',
      '# TYPE proxbox_intent_http_request_seconds_sum counter',
    ];
    for (const [key, v] of this.requests) {
      const [method, route, status] = key.split(' ');
      const labels = `method="${method}",route="${route}",status="${status}"`;
      lines.push(`proxbox_intent_http_requests_total{${labels}} ${v.count}`, `proxbox_intent_http_request_seconds_sum{${labels}} ${v.seconds.toFixed(6)}`);
    }
    return lines.join('\n') + '\n';
  }
}
