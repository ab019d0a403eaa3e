/**
 * Runs the NetBox simulator as its own process: `tsx simulators/netbox/main.ts`.
 * NETBOX_SIM_PORT (default 8001), NETBOX_SIM_VERSION (4.4|4.5|4.6), NETBOX_SIM_DEMO=1 (seed the demo main state),
 * NETBOX_SIM_TOKENS (comma-separated), NETBOX_SIM_BASE_URL.
 */
import { createNetboxSimulator } from './index';

const env = process.env;
const version = env.NETBOX_SIM_VERSION;
if (version !== undefined && version !== '4.4' && version !== '4.5' && version !== '4.6') {
  console.error(`NETBOX_SIM_VERSION must be 4.4, 4.5 or 4.6, not ${JSON.stringify(version)}`);
  process.exit(2);
}
const port = Number(env.NETBOX_SIM_PORT ?? 8001);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`NETBOX_SIM_PORT must be a port number, not ${JSON.stringify(env.NETBOX_SIM_PORT)}`);
  process.exit(2);
}

const sim = createNetboxSimulator({
  ...(version ? { version } : {}),
  ...(env.NETBOX_SIM_BASE_URL ? { baseUrl: env.NETBOX_SIM_BASE_URL } : {}),
  ...(env.NETBOX_SIM_TOKENS ? { tokens: env.NETBOX_SIM_TOKENS.split(',').map((t) => t.trim()).filter(Boolean) } : {}),
  demo: env.NETBOX_SIM_DEMO === '1' || env.NETBOX_SIM_DEMO === 'true',
});
const server = await sim.listen(port);
console.log(`NetBox simulator (${sim.version}) listening on ${server.url}`);
const stop = () => { void sim.close().then(() => process.exit(0)); };
process.once('SIGINT', stop);
process.once('SIGTERM', stop);
