import { z } from 'zod';

const optionalUrl = z.url().optional();
const positiveInt = (fallback: number) => z.coerce.number().int().positive().default(fallback);

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
  LOG_LEVEL: z.enum(['debug', 'info', 'warn', 'error']).default('info'),
  /** On SIGTERM the worker stops polling and gives running activities this long to finish (a write and its task). */
  WORKER_SHUTDOWN_GRACE_S: z.coerce.number().int().min(0).default(300),
  /** On SIGTERM the API stops accepting connections and gives requests in flight this long to finish. */
  API_SHUTDOWN_GRACE_S: z.coerce.number().int().min(0).default(30),
});
export type ServiceEnv = z.infer<typeof ServiceEnv>;

export class ConfigError extends Error {}

export function parseEnv(source: Record<string, string | undefined>): ServiceEnv {
  const cleaned = Object.fromEntries(Object.entries(source).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = ServiceEnv.safeParse(cleaned);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`);
    throw new ConfigError(`Invalid configuration:\n${lines.join('\n')}`);
  }
  return parsed.data;
}

/** Names the variables a production start (`npm start`) cannot do without. */
export function requireForProduction(env: ServiceEnv, role: 'api' | 'worker' | 'all'): void {
  const needed: (keyof ServiceEnv)[] = ['DATABASE_URL', 'APPROVAL_SIGNING_SECRET'];
  if (role !== 'worker') needed.push('NETBOX_WEBHOOK_SECRET');
  if (role !== 'api') needed.push('NETBOX_URL', 'NETBOX_TOKEN');
  const missing = needed.filter((k) => env[k] === undefined);
  if (missing.length) throw new ConfigError(`Missing required configuration: ${missing.join(', ')}`);
}
