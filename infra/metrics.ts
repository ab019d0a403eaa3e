import { createHash, timingSafeEqual } from 'node:crypto';
import { Hono } from 'hono';
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { serveHttp, type RunningServer } from './http-server';

/**
 * Prometheus metrics of one process (README "Metrics"). Two registries per process, never prom-client's global one,
 * so several systems in one test process keep their own counts:
 * - the process registry: what this process observed itself (HTTP requests, writes, Proxmox tasks, upstream errors),
 *   labelled with the process's identity;
 * - the cluster registry (db/cluster-metrics.ts): numbers read from PostgreSQL at scrape time, identical whichever
 *   process is scraped, so they carry no process labels.
 */

export type ProcessRole = 'api' | 'worker' | 'all';

export interface ProcessIdentity {
  /** `api`, `worker` or `all` (both in one process). */
  process: ProcessRole;
  hostname: string;
  pid: number;
}

/** Seconds: a Proxmox task or a write takes from well under a second to many minutes. */
export const WRITE_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 900];
/** Seconds: HTTP requests of the API. */
export const HTTP_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** What the worker's activities observe (activities/deps.ts ActivityMetrics is the same shape). */
export interface WriteObservations {
  vmWrite(labels: { op: string; kind: string; status: string }, seconds: number): void;
  proxmoxTask(labels: { op: string; outcome: string }, seconds: number): void;
}

export class ProcessMetrics implements WriteObservations {
  readonly registry = new Registry();
  readonly httpRequests: Counter<'method' | 'route' | 'status'>;
  readonly httpDuration: Histogram<'method' | 'route' | 'status'>;
  readonly vmWrites: Histogram<'op' | 'kind' | 'status'>;
  readonly proxmoxTasks: Histogram<'op' | 'outcome'>;
  readonly upstreamErrors: Counter<'system' | 'kind'>;
  readonly webhooks: Counter<'outcome'>;

  constructor(readonly identity: ProcessIdentity, opts: { defaultMetrics?: boolean } = {}) {
    this.registry.setDefaultLabels({ process: identity.process, hostname: identity.hostname, pid: String(identity.pid) });
    const registers = [this.registry];
    this.httpRequests = new Counter({ name: 'proxbox_intent_http_requests_total', help: 'HTTP requests served by this process.', labelNames: ['method', 'route', 'status'], registers });
    this.httpDuration = new Histogram({
      name: 'proxbox_intent_http_request_duration_seconds', help: 'Time to serve an HTTP request (the headers; a stream counts until it opens).',
      labelNames: ['method', 'route', 'status'], buckets: HTTP_BUCKETS, registers,
    });
    this.vmWrites = new Histogram({
      name: 'proxbox_intent_vm_write_duration_seconds',
      help: 'One create or update of one guest, from its write slot to its recorded result (the proxbox-api call and the Proxmox task included), by result status.',
      labelNames: ['op', 'kind', 'status'], buckets: WRITE_BUCKETS, registers,
    });
    this.proxmoxTasks = new Histogram({
      name: 'proxbox_intent_proxmox_task_duration_seconds',
      help: 'How long a Proxmox task (create, update, destroy) was followed until it ended or its deadline passed, by outcome.',
      labelNames: ['op', 'outcome'], buckets: WRITE_BUCKETS, registers,
    });
    this.upstreamErrors = new Counter({
      name: 'proxbox_intent_upstream_errors_total', help: 'Failed calls to NetBox and proxbox-api, by system and error kind (clients/errors.ts).',
      labelNames: ['system', 'kind'], registers,
    });
    this.webhooks = new Counter({
      name: 'proxbox_intent_netbox_webhooks_total', help: 'NetBox webhooks received at /api/v1/hooks/netbox, by outcome.',
      labelNames: ['outcome'], registers,
    });
    if (opts.defaultMetrics !== false) collectDefaultMetrics({ register: this.registry });
  }

  vmWrite(labels: { op: string; kind: string; status: string }, seconds: number): void {
    this.vmWrites.observe(labels, seconds);
  }

  proxmoxTask(labels: { op: string; outcome: string }, seconds: number): void {
    this.proxmoxTasks.observe(labels, seconds);
  }

  /** For clients/errors.ts UpstreamErrorObserver. */
  readonly upstreamError = (err: { system: string; kind: string }): void => {
    this.upstreamErrors.inc({ system: err.system, kind: err.kind });
  };
}

/**
 * Where the Temporal SDK's own Prometheus exporter (Runtime telemetryOptions) is scraped from this process: a bind
 * address of every interface is read on loopback.
 */
export function sdkScrapeUrl(bindAddress: string): string {
  const m = /^(.*):(\d+)$/.exec(bindAddress.trim());
  if (!m) throw new Error(`not host:port: ${bindAddress}`);
  const host = m[1] === '0.0.0.0' || m[1] === '' ? '127.0.0.1' : m[1] === '[::]' ? '[::1]' : m[1]!;
  return `http://${host}:${m[2]}/metrics`;
}

/** `Authorization: Bearer <token>` against METRICS_TOKEN (unset: open); compared in constant time. */
export function metricsAccessAllowed(authorization: string | null | undefined, token: string | undefined): boolean {
  if (!token) return true;
  const m = /^Bearer\s+(.+)$/i.exec(authorization?.trim() ?? '');
  if (!m) return false;
  const digest = (s: string) => createHash('sha256').update(s).digest();
  return timingSafeEqual(digest(m[1]!), digest(token));
}

/** Several expositions as one scrape: each ends with exactly one newline. */
export function joinExpositions(parts: string[]): string {
  return parts.map((p) => p.trim()).filter(Boolean).join('\n\n') + '\n';
}

export interface MetricsSource {
  /** The whole scrape in the Prometheus text format (version 0.0.4). */
  render(): Promise<string>;
}

export const METRICS_CONTENT_TYPE = Registry.PROMETHEUS_CONTENT_TYPE;

/**
 * What a process answers at /metrics: its own registry, the cluster registry and, when this process runs a worker
 * with TEMPORAL_METRICS_ADDRESS, the Temporal SDK's exposition fetched from its exporter on this host. An SDK
 * exporter that does not answer leaves a comment and `proxbox_intent_temporal_sdk_scrape_up 0`, never a failed scrape.
 */
export function metricsSource(parts: { process: ProcessMetrics; cluster?: Registry | null; sdkBindAddress?: string | null; sdkTimeoutMs?: number }): MetricsSource {
  const sdkUrl = parts.sdkBindAddress ? sdkScrapeUrl(parts.sdkBindAddress) : null;
  return {
    async render() {
      const texts = [await parts.process.registry.metrics()];
      if (parts.cluster) texts.push(await parts.cluster.metrics());
      if (sdkUrl) texts.push(await scrapeSdk(sdkUrl, parts.sdkTimeoutMs ?? 2_000));
      return joinExpositions(texts);
    },
  };
}

async function scrapeSdk(url: string, timeoutMs: number): Promise<string> {
  const up = (v: 0 | 1) => '# HELP proxbox_intent_temporal_sdk_scrape_up Whether the Temporal SDK exporter of this process answered.\n'
    + `# TYPE proxbox_intent_temporal_sdk_scrape_up gauge\nproxbox_intent_temporal_sdk_scrape_up ${v}`;
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    if (!res.ok) return `${up(0)}\n# Temporal SDK exporter answered ${res.status}`;
    return `${up(1)}\n\n${await res.text()}`;
  } catch (err) {
    return `${up(0)}\n# Temporal SDK exporter unreachable: ${(err instanceof Error ? err.message : String(err)).replace(/\s+/g, ' ')}`;
  }
}

/**
 * The answer to `GET /metrics` (the API's route and the worker's listener): 401 problem+json without the right
 * `Authorization: Bearer <METRICS_TOKEN>` when a token is configured, else the scrape.
 */
export async function metricsResponse(source: MetricsSource, token: string | undefined, authorization: string | null | undefined): Promise<Response> {
  if (!metricsAccessAllowed(authorization, token)) {
    const detail = 'GET /metrics needs Authorization: Bearer <METRICS_TOKEN>.';
    return new Response(JSON.stringify({ type: 'https://proxbox-intent.dev/problems/unauthorized', title: 'Unauthorized', status: 401, detail, code: 'unauthorized' }), {
      status: 401, headers: { 'content-type': 'application/problem+json', 'www-authenticate': 'Bearer realm="metrics"' },
    });
  }
  return new Response(await source.render(), { status: 200, headers: { 'content-type': METRICS_CONTENT_TYPE } });
}

/**
 * The worker's own metrics listener (WORKER_METRICS_PORT): `GET /metrics` and nothing else, since a worker has no
 * API. Port 0 picks a free port (tests).
 */
export function serveMetrics(source: MetricsSource, opts: { port: number; hostname: string; token?: string | undefined }): Promise<RunningServer> {
  const app = new Hono();
  app.get('/metrics', (c) => metricsResponse(source, opts.token, c.req.header('authorization')));
  return serveHttp(app, opts.port, opts.hostname);
}
