/**
 * Runs the proxbox-api simulator as its own process: `tsx simulators/proxbox-api/main.ts`.
 * PROXBOX_SIM_PORT (default 8002), PROXBOX_SIM_API_KEYS (comma-separated, default sim-proxbox-key),
 * PROXBOX_SIM_CAPABILITIES (comma-separated: registerDeletion,taskStatus), PROXBOX_SIM_TASK_MS (default 0),
 * PROXBOX_SIM_RATE_LIMIT (requests per minute, default 300), PROXBOX_SIM_DEMO=1 (seed the demo cluster).
 * Seed and inspect it over HTTP with the /_sim routes.
 */
import { createProxboxSimulator } from './index';

const env = process.env;
const int = (name: string, fallback: number) => {
  const value = Number(env[name] ?? fallback);
  if (!Number.isInteger(value) || value < 0) {
    console.error(`${name} must be a whole number, not ${JSON.stringify(env[name])}`);
    process.exit(2);
  }
  return value;
};
const caps = new Set((env.PROXBOX_SIM_CAPABILITIES ?? '').split(',').map((s) => s.trim()).filter(Boolean));
const unknown = [...caps].filter((c) => c !== 'registerDeletion' && c !== 'taskStatus');
if (unknown.length) {
  console.error(`PROXBOX_SIM_CAPABILITIES knows registerDeletion and taskStatus, not ${unknown.join(', ')}`);
  process.exit(2);
}

const sim = createProxboxSimulator({
  ...(env.PROXBOX_SIM_API_KEYS ? { apiKeys: env.PROXBOX_SIM_API_KEYS.split(',').map((k) => k.trim()).filter(Boolean) } : {}),
  capabilities: { registerDeletion: caps.has('registerDeletion'), taskStatus: caps.has('taskStatus') },
  taskDurationMs: int('PROXBOX_SIM_TASK_MS', 0),
  rateLimitPerMinute: int('PROXBOX_SIM_RATE_LIMIT', 300),
});
if (env.PROXBOX_SIM_DEMO === '1' || env.PROXBOX_SIM_DEMO === 'true') sim.cluster.seedDemoCluster();
const server = await sim.listen(int('PROXBOX_SIM_PORT', 8002));
console.log(`proxbox-api simulator listening on ${server.url}`);
const stop = () => { void sim.close().then(() => process.exit(0)); };
process.once('SIGINT', stop);
process.once('SIGTERM', stop);
