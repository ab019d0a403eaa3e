import { z } from 'zod';
import { decodePayloadKey, splitKeyList } from '../infra/payload-codec';
import { backendUrlRefusal, parseAllowedHosts, type BackendUrlPolicy } from '../domain/backend-url';
import { parseSecretKey } from '../domain/secret-box';
import { DEFAULT_RUN_BUDGET } from '../domain/apply-chain';

const optionalUrl = z.url().optional();
const positiveInt = (fallback: number) => z.coerce.number().int().positive().default(fallback);
const KEY_HINT = '32 random bytes in base64 (openssl rand -base64 32)';
const filePath = z.string().min(1);
const secretKey = z.string().refine((v) => parseSecretKey(v) !== null, 'must be 32 random bytes in base64 (for example: openssl rand -base64 32)');

/**
 * Every setting the service reads from the environment. Parsed once at start; a missing or
 * invalid value stops the start with a message that names the variable.
 */
export const ServiceEnv = z.object({
  PORT: z.coerce.number().int().min(0).max(65535).default(8080),
  DATABASE_URL: z.string().regex(/^postgres(ql)?:\/\//, 'must be a postgres:// URL').optional(),
  TEMPORAL_ADDRESS: z.string().min(1).default('127.0.0.1:7233'),
  TEMPORAL_NAMESPACE: z.string().min(1).default('default'),
  TEMPORAL_TASK_QUEUE: z.string().min(1).default('proxbox-intent'),
  TEMPORAL_UI_URL: z.url().default('http://127.0.0.1:8233'),
  /** Where people reach our API and pages: the links in what is written back to NetBox (`<PUBLIC_URL>/ui/apply-jobs/<id>`). */
  PUBLIC_URL: z.url().optional(),
  NETBOX_URL: optionalUrl,
  NETBOX_TOKEN: z.string().min(1).optional(),
  NETBOX_TIMEOUT_MS: positiveInt(15_000),
  NETBOX_PAGE_SIZE: z.coerce.number().int().min(1).max(1000).default(1000),
  NETBOX_WEBHOOK_SECRET: z.string().min(8, 'must be at least 8 characters').optional(),
  PROXBOX_API_URL: optionalUrl,
  PROXBOX_API_KEY: z.string().min(1).optional(),
  PROXBOX_ENDPOINT_ID: z.coerce.number().int().positive().optional(),
  PROXBOX_ENDPOINT_CLUSTERS: z.string().optional(),
  BOOTSTRAP_ADMIN_TOKEN: z.string().min(16, 'must be at least 16 characters').optional(),
  APPROVAL_SIGNING_SECRET: z.string().min(16, 'must be at least 16 characters').optional(),
  RECONCILE_INTERVAL_S: positiveInt(300),
  RECONCILE_LOOKBACK_H: positiveInt(24),
  APPLY_MAX_CONCURRENCY: positiveInt(16),
  APPLY_MAX_PER_NODE: positiveInt(4),
  /**
   * How long a write's VMID and node-slot lease lives without renewal (db/locks.ts). Above the write activity's
   * heartbeat timeout plus its retry delay, so a write whose worker died gets its slot back before anyone else can.
   */
  WRITE_LEASE_TTL_S: z.coerce.number().int().min(30).default(180),
  /** How many items one run of an apply dispatches before it continues as new, so no workflow history grows with the branch. */
  APPLY_ITEMS_PER_RUN: positiveInt(DEFAULT_RUN_BUDGET.itemsPerRun),
  /** How long a Proxmox task (create, update, destroy) is followed before its outcome is declared unknown. */
  PROXMOX_TASK_DEADLINE_S: positiveInt(900),
  /** The first wait between two reads of a running Proxmox task; it doubles up to 15 s (proxbox-api.md §10 b). */
  PROXMOX_TASK_POLL_MS: z.coerce.number().int().min(10).default(2000),
  LOG_LEVEL: z.enum(['debug', 'info', 'warn', 'error']).default('info'),
  /** OpenTelemetry traces over OTLP/HTTP (README "Observability"): off unless one of these is set. */
  OTEL_EXPORTER_OTLP_ENDPOINT: optionalUrl,
  /** The traces URL itself (`…/v1/traces`); takes precedence over OTEL_EXPORTER_OTLP_ENDPOINT. */
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: optionalUrl,
  /** Turns the Temporal payload codec on (infra/payload-codec.ts): the key that encrypts. */
  TEMPORAL_PAYLOAD_ENCRYPTION_KEY: z.string().refine((v) => decodePayloadKey(v) !== null, `must be ${KEY_HINT}`).optional(),
  /** Keys that only decrypt (the previous key during and after a rotation), comma-separated. */
  TEMPORAL_PAYLOAD_DECRYPTION_KEYS: z.string()
    .refine((v) => splitKeyList(v).every((k) => decodePayloadKey(k) !== null), `must be comma-separated keys, each ${KEY_HINT}`).optional(),
  /** mTLS to the Temporal frontend (infra/temporal-connection.ts): PEM files of our client certificate, its key and the CA. */
  TEMPORAL_TLS_CERT: filePath.optional(),
  TEMPORAL_TLS_KEY: filePath.optional(),
  TEMPORAL_TLS_CA: filePath.optional(),
  TEMPORAL_TLS_SERVER_NAME: z.string().min(1).optional(),
  /** Encrypts secrets at rest (the proxbox-api key): 32 random bytes in base64. */
  SECRETS_ENCRYPTION_KEY: secretKey.optional(),
  /** The key before a rotation: still opens what it sealed; everything is sealed again with the new key at start. */
  SECRETS_ENCRYPTION_KEY_PREVIOUS: secretKey.optional(),
  PROXBOX_API_ALLOW_HTTP: z.enum(['true', 'false'], { error: 'must be true or false' }).default('false').transform((v) => v === 'true'),
  /** Notification destinations may use plain http (default: https only; README "Notifications"). */
  NOTIFICATIONS_ALLOW_HTTP: z.enum(['true', 'false'], { error: 'must be true or false' }).default('false').transform((v) => v === 'true'),
  /** Comma-separated `host` or `host:port` entries; when set, the proxbox-api URL must name one of them. */
  PROXBOX_API_ALLOWED_HOSTS: z.string().optional(),
  // Abuse limits (README "Security"); counted in PostgreSQL, so they hold across every API process.
  AUTH_FAILURES_PER_IP: positiveInt(10),
  AUTH_FAILURE_WINDOW_S: positiveInt(300),
  PLAN_REQUESTS_PER_USER_PER_MIN: positiveInt(30),
  PLAN_PROXBOX_CALLS_PER_MIN: positiveInt(120),
  SSE_STREAMS_PER_USER: positiveInt(4),
  /** Reverse proxies whose X-Forwarded-For names the client (comma-separated addresses); nobody else's is believed. */
  API_TRUSTED_PROXIES: z.string().optional(),
  /** On SIGTERM the worker stops polling and gives running activities this long to finish (a write and its task). */
  WORKER_SHUTDOWN_GRACE_S: z.coerce.number().int().min(0).default(300),
  /** `/readyz` answers 503 while no worker polls the task queue (default: reported in the body, still 200). */
  READYZ_REQUIRE_WORKER: z.enum(['true', 'false'], { error: 'must be true or false' }).default('false').transform((v) => v === 'true'),
  /** On SIGTERM the API stops accepting connections and gives requests in flight this long to finish. */
  API_SHUTDOWN_GRACE_S: z.coerce.number().int().min(0).default(30),
  /** When set, `GET /metrics` (API and worker listener) needs `Authorization: Bearer <METRICS_TOKEN>`; unset: open. */
  METRICS_TOKEN: z.string().min(16, 'must be at least 16 characters').optional(),
  /** A worker process serves `GET /metrics` on this port (0: any free port); unset: no listener. */
  WORKER_METRICS_PORT: z.coerce.number().int().min(0).max(65535).optional(),
  /** host:port where the Temporal SDK's Prometheus exporter binds; its metrics are merged into the worker's /metrics. */
  TEMPORAL_METRICS_ADDRESS: z.string().regex(/^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):\d{1,5}$/, 'must be host:port, for example 127.0.0.1:9464').optional(),
}).superRefine((env, ctx) => {
  // The environment's backend obeys the same rules as PUT /api/v1/backend.
  const refused = env.PROXBOX_API_URL ? backendUrlRefusal(env.PROXBOX_API_URL, backendUrlPolicy(env)) : null;
  if (refused) ctx.addIssue({ code: 'custom', path: ['PROXBOX_API_URL'], message: refused });
});
export type ServiceEnv = z.infer<typeof ServiceEnv>;

export class ConfigError extends Error {}

export function backendUrlPolicy(env: Pick<ServiceEnv, 'PROXBOX_API_ALLOW_HTTP' | 'PROXBOX_API_ALLOWED_HOSTS'>): BackendUrlPolicy {
  return { allowHttp: env.PROXBOX_API_ALLOW_HTTP, allowedHosts: parseAllowedHosts(env.PROXBOX_API_ALLOWED_HOSTS) };
}

export function parseEnv(source: Record<string, string | undefined>): ServiceEnv {
  const cleaned = Object.fromEntries(Object.entries(source).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = ServiceEnv.safeParse(cleaned);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`);
    throw new ConfigError(`Invalid configuration:\n${lines.join('\n')}`);
  }
  const env = parsed.data;
  const together = [
    env.TEMPORAL_PAYLOAD_DECRYPTION_KEYS && !env.TEMPORAL_PAYLOAD_ENCRYPTION_KEY
      ? '  TEMPORAL_PAYLOAD_DECRYPTION_KEYS: needs TEMPORAL_PAYLOAD_ENCRYPTION_KEY (the key that encrypts new payloads)' : null,
    Boolean(env.TEMPORAL_TLS_CERT) !== Boolean(env.TEMPORAL_TLS_KEY) ? '  TEMPORAL_TLS_CERT, TEMPORAL_TLS_KEY: set both (the client certificate and its key) or neither' : null,
  ].filter(Boolean);
  if (together.length) throw new ConfigError(`Invalid configuration:\n${together.join('\n')}`);
  return env;
}

/** Names the variables a production start (`npm start`) cannot do without. */
export function requireForProduction(env: ServiceEnv, role: 'api' | 'worker' | 'all'): void {
  const needed: (keyof ServiceEnv)[] = ['DATABASE_URL', 'APPROVAL_SIGNING_SECRET', 'SECRETS_ENCRYPTION_KEY'];
  if (role !== 'worker') needed.push('NETBOX_WEBHOOK_SECRET');
  if (role !== 'api') needed.push('NETBOX_URL', 'NETBOX_TOKEN');
  const missing = needed.filter((k) => env[k] === undefined);
  if (missing.length) {
    const hint = missing.includes('SECRETS_ENCRYPTION_KEY') ? ' (SECRETS_ENCRYPTION_KEY encrypts the proxbox-api key at rest: generate it once with `openssl rand -base64 32` and keep it)' : '';
    throw new ConfigError(`Missing required configuration: ${missing.join(', ')}${hint}`);
  }
}
