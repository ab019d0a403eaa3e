import 'dotenv/config';
import { ConfigError, parseEnv, requireForProduction } from '../config/env';
import { startSystem } from '../runtime/system';
import { prebuiltWorkflowBundle } from '../runtime/worker';
import { logger } from '../infra/logger';

/** Production start: the API, the worker, or both, against the configured systems. */
async function main() {
  const role = (process.argv[2] ?? 'all') as 'api' | 'worker' | 'all';
  if (!['api', 'worker', 'all'].includes(role)) throw new ConfigError(`unknown role '${role}': use api, worker or all`);
  const env = parseEnv(process.env);
  requireForProduction(env, role);
  const system = await startSystem({ env, role, hostname: process.env.HOST ?? '0.0.0.0' });
  const log = logger();
  log.info(`proxbox-intent ${role} started${system.apiUrl ? ` (API on port ${env.PORT})` : ''}; Temporal ${env.TEMPORAL_ADDRESS}, task queue ${env.TEMPORAL_TASK_QUEUE}`);
  if (system.metrics.workerUrl) log.info(`worker metrics: ${system.metrics.workerUrl}${env.METRICS_TOKEN ? ' (METRICS_TOKEN required)' : ''}`);
  if (role !== 'api') {
    const bundle = prebuiltWorkflowBundle();
    log.info(`workflows: ${bundle ? `prebuilt bundle ${bundle}` : 'bundled from source at start (run `npm run build` for a prebuilt bundle)'}`);
  }
  const { tls, clientCertificate, payloadKeyId } = system.temporalSecurity;
  log.info(`Temporal connection: ${tls ? (clientCertificate ? 'mutual TLS' : 'TLS without a client certificate') : 'plaintext (set TEMPORAL_TLS_CA, TEMPORAL_TLS_CERT, TEMPORAL_TLS_KEY)'}; ` +
    `payloads: ${payloadKeyId ? `encrypted with key ${payloadKeyId}` : 'NOT encrypted (set TEMPORAL_PAYLOAD_ENCRYPTION_KEY)'}`);
  let stopping = false;
  const stop = async () => {
    if (stopping) {
      log.warn('stopping at once: activities still running are abandoned (Temporal retries them elsewhere)');
      process.exit(1);
    }
    stopping = true;
    const waits = [role !== 'api' ? `running activities up to ${env.WORKER_SHUTDOWN_GRACE_S} s` : '', role !== 'worker' ? `requests in flight up to ${env.API_SHUTDOWN_GRACE_S} s` : '']
      .filter(Boolean).join(' and ');
    log.info(`stopping: no new work is taken; waiting for ${waits} (signal again to stop at once)`);
    await system.stop();
    process.exit(0);
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

main().catch((err: unknown) => {
  console.error(err instanceof ConfigError ? err.message : err);
  process.exit(1);
});
