import { Hono } from 'hono';
import { controlRoutes, recordAndInjectFaults, SimulatorControl } from '../common/control';
import { serveHttp, type RunningServer } from '../../infra/http-server';
import { applyRoutes } from './apply';
import { AuthGuard, authMiddleware } from './auth';
import { deletionRoutes } from './deletion';
import { FakeProxmox } from './fake-proxmox';
import { e5 } from './http';
import { openapiDocument, SIMULATED_VERSION, type Capabilities } from './openapi';
import { planRoutes } from './plan';
import { proxyRoutes } from './proxy';
import { RateLimiter, rateLimitMiddleware } from './rate-limit';
import { readRoutes } from './reads';
import { simRoutes } from './sim-routes';
import { tagRoutes } from './tags';
import { taskRoutes } from './tasks';

export { FakeProxmox } from './fake-proxmox';
export type {
  EndpointSeed, FakeEndpoint, FakeNode, FakeStorage, FakeVolume, GuestSeed, GuestStatus, GuestType, GuestView,
  PveFaultSeed, PveLogEntry, StorageSeed, TaskView,
} from './fake-proxmox';
export type { JournalEntry } from './journal';
export type { DeletionSeed, StoredDeletion } from './deletion-store';
export { DEMO_TEMPLATE, seedDemoCluster } from './demo';
export { formatUpid, parseUpid, type UpidParts } from './upid';
export type { RunningServer } from '../../infra/http-server';

export const DEFAULT_API_KEY = 'sim-proxbox-key';

export interface ProxboxSimulatorOptions {
  /** registered keys; default ['sim-proxbox-key'] */
  apiKeys?: string[];
  /** proxbox-api.md §10 optional routes; default both false */
  capabilities?: { registerDeletion?: boolean; taskStatus?: boolean };
  /** how long a Proxmox task stays 'running' before 'stopped' (default 0 = finishes immediately) */
  taskDurationMs?: number;
  /** proxbox-api.md §1.3, default 300 */
  rateLimitPerMinute?: number;
  /** peers whose X-Forwarded-For is honoured (proxbox-api.md §1.3); default none */
  trustedProxies?: string[];
}

export interface ProxboxSimulator {
  app: Hono;
  control: SimulatorControl;
  cluster: FakeProxmox;
  /** the live capability switches; `/openapi.json` and the proxbox-api.md §10 routes follow them */
  capabilities: Capabilities;
  auth: AuthGuard;
  rateLimiter: RateLimiter;
  listen(port?: number): Promise<RunningServer>;
  /** Closes every server `listen` started. */
  close(): Promise<void>;
  /** Empties the call log, faults, cluster, journal, lockouts and rate counts, and restores the options. */
  reset(): void;
}

export function createProxboxSimulator(opts: ProxboxSimulatorOptions = {}): ProxboxSimulator {
  const initialCaps = (): Capabilities => ({
    registerDeletion: opts.capabilities?.registerDeletion ?? false,
    taskStatus: opts.capabilities?.taskStatus ?? false,
  });
  const capabilities = initialCaps();
  const trusted = opts.trustedProxies ?? [];
  const control = new SimulatorControl();
  const cluster = new FakeProxmox({ taskDurationMs: opts.taskDurationMs ?? 0 });
  const auth = new AuthGuard(opts.apiKeys ?? [DEFAULT_API_KEY]);
  const rateLimiter = new RateLimiter(opts.rateLimitPerMinute ?? 300);

  const reset = () => {
    control.clearCalls();
    control.clearFaults();
    cluster.reset();
    cluster.taskDurationMs = opts.taskDurationMs ?? 0;
    auth.reset();
    auth.setKeys(opts.apiKeys ?? [DEFAULT_API_KEY]);
    rateLimiter.reset();
    rateLimiter.limitPerMinute = opts.rateLimitPerMinute ?? 300;
    Object.assign(capabilities, initialCaps());
  };

  const app = new Hono();
  app.use('*', recordAndInjectFaults(control));
  app.route('/_sim', controlRoutes(control, reset));
  app.route('/_sim', simRoutes({ cluster, capabilities, setApiKeys: (keys) => auth.setKeys(keys) }));
  app.use('*', rateLimitMiddleware(rateLimiter, trusted));
  app.use('*', authMiddleware(auth, trusted));

  app.get('/health', (c) => c.json({ status: 'ready', init_ok: true }));
  app.get('/openapi.json', (c) => c.json(openapiDocument(capabilities)));
  app.get('/version', (c) => c.json({ version: SIMULATED_VERSION }));
  app.route('/', planRoutes());
  app.route('/', applyRoutes(cluster));
  app.route('/', deletionRoutes(cluster, () => capabilities.registerDeletion));
  app.route('/', tagRoutes(cluster));
  app.route('/', taskRoutes(cluster, () => capabilities.taskStatus));
  app.route('/', readRoutes(cluster));
  app.route('/proxmox/api2/latest', proxyRoutes(cluster));
  app.route('/proxmox/api2', proxyRoutes(cluster));

  app.notFound((c) => c.json({ detail: 'Not Found' }, 404));
  app.onError((_err, c) => e5(c));

  const servers: RunningServer[] = [];
  return {
    app, control, cluster, capabilities, auth, rateLimiter, reset,
    listen: async (port = 0) => {
      const server = await serveHttp(app, port);
      servers.push(server);
      return server;
    },
    close: async () => {
      await Promise.all(servers.splice(0).map((s) => s.close()));
    },
  };
}
