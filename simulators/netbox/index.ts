/**
 * A simulator of NetBox 4.5 with netbox-branching 1.1, following docs/contracts/netbox.md.
 * The simulator is the model (branches, diffs, merges, webhooks) plus a Hono app serving the REST API and `/_sim`.
 */
import { Hono } from 'hono';
import type { Branch as BranchJson } from '../../contracts/netbox';
import { SimulatorControl, controlRoutes, recordAndInjectFaults } from '../common/control';
import { serveHttp, type RunningServer } from '../../infra/http-server';
import { buildDemoBranch, seedDemo, type DemoBranch } from './demo';
import { NetboxModel, SimulatorError, type NetboxVersion } from './model';
import { RestRenderer } from './rest';
import { apiRoutes } from './routes';
import { simRoutes } from './sim-routes';
import type { SendOptions, WebhookDelivery, WebhookTarget, WebhookTargetInput } from './webhooks';

export interface NetboxSimulatorOptions {
  /** Accepted secrets; v2 (`nbt_…`) only via Bearer, v1 only via Token (netbox.md §1). */
  tokens?: string[];
  /** Shapes the webhook body (4.4 adds `"model": "branch"`) and the VM fields of each version. */
  version?: NetboxVersion;
  /** Used in `url`, `next` and `previous`; default: the listening address (or the request's origin). */
  baseUrl?: string;
  /** Seed the netbox.md §9.2 demo main state at start and on every reset. */
  demo?: boolean;
  /** Status for a presented but invalid token. Real NetBox answers 403; the contract allows 401 too. */
  invalidTokenStatus?: 401 | 403;
  /** Clock in epoch ms, for deterministic tests. */
  now?: () => number;
  webhookTimeoutMs?: number;
}

export const DEFAULT_TOKENS = ['nbt_simkey.simtoken', 'legacy-sim-token'] as const;

export class NetboxSimulator extends NetboxModel {
  readonly app: Hono;
  readonly control = new SimulatorControl();
  readonly tokens: string[];
  private server: RunningServer | null = null;

  constructor(private readonly options: NetboxSimulatorOptions = {}) {
    super({
      ...(options.version ? { version: options.version } : {}),
      ...(options.now ? { now: options.now } : {}),
      ...(options.webhookTimeoutMs ? { webhookTimeoutMs: options.webhookTimeoutMs } : {}),
    });
    this.tokens = [...(options.tokens ?? DEFAULT_TOKENS)];
    if (options.demo) seedDemo(this);

    const baseUrlFor = (requestUrl: string) => this.baseUrl(requestUrl);
    const app = new Hono();
    app.onError((err, c) => {
      if (err instanceof SimulatorError) return c.json(err.body, err.status as 400);
      return c.json({ detail: `Server error: ${err.message}` }, 500);
    });
    app.use('*', recordAndInjectFaults(this.control));
    app.route('/_sim', controlRoutes(this.control, () => this.reset()));
    app.route('/_sim', simRoutes({ model: this, baseUrlFor }));
    app.route('/api', apiRoutes({ model: this, tokens: this.tokens, invalidTokenStatus: options.invalidTokenStatus ?? 403, baseUrlFor }));
    this.app = app;
  }

  /** The listening URL, once `listen` has resolved. */
  get url(): string | null {
    return this.server?.url ?? null;
  }

  /** NetBox's idea of its own base URL: the option, else the listening address, else the request's origin. */
  baseUrl(requestUrl?: string): string {
    const base = this.options.baseUrl ?? this.server?.url ?? (requestUrl ? new URL(requestUrl).origin : 'http://127.0.0.1');
    return base.replace(/\/+$/, '');
  }

  async listen(port = 0): Promise<RunningServer> {
    if (this.server) throw new Error('the NetBox simulator is already listening');
    this.server = await serveHttp(this.app, port);
    return this.server;
  }

  async close(): Promise<void> {
    const server = this.server;
    this.server = null;
    await server?.close();
  }

  /** Back to the initial state (base seed, plus the demo if configured); also clears webhook targets and deliveries. */
  reset(): void {
    this.resetState();
    if (this.options.demo) seedDemo(this);
  }

  /** REST representations, with this simulator's base URL. */
  rest(): RestRenderer {
    return new RestRenderer(this, this.baseUrl());
  }

  /** A branch exactly as `GET /api/plugins/branching/branches/{id}/` returns it. */
  branchJson(id: number): BranchJson {
    return this.rest().branch(this.branch(id)) as BranchJson;
  }

  seedDemo(): void {
    seedDemo(this);
  }

  buildDemoBranch(opts?: { name?: string; owner?: string }): DemoBranch {
    return buildDemoBranch(this, opts);
  }

  // Webhook delivery controls.

  addWebhookTarget(target: WebhookTargetInput): WebhookTarget {
    return this.webhooks.addTarget(target);
  }

  removeWebhookTarget(id: number): boolean {
    return this.webhooks.removeTarget(id);
  }

  get deliveries(): readonly WebhookDelivery[] {
    return this.webhooks.deliveries;
  }

  dropNextDeliveries(n: number): void {
    this.webhooks.dropNext(n);
  }

  duplicateNextDeliveries(n: number): void {
    this.webhooks.duplicateNext(n);
  }

  pauseDeliveries(): void {
    this.webhooks.pause();
  }

  resumeDeliveries(): Promise<WebhookDelivery[]> {
    return this.webhooks.resume();
  }

  /** Sends any payload (signed with the target's secret unless `signature` says otherwise) to a target. */
  sendWebhook(target: WebhookTargetInput, body: string | Record<string, unknown>, opts?: SendOptions): Promise<WebhookDelivery> {
    return this.webhooks.send(target, body, opts);
  }
}

export function createNetboxSimulator(opts?: NetboxSimulatorOptions): NetboxSimulator {
  return new NetboxSimulator(opts);
}

export { DEMO, buildDemoBranch, seedDemo, type DemoBranch } from './demo';
export {
  NetboxModel, OBJECT_KINDS, SimulatorError, type BranchEventRecord, type BranchRecord, type CreateBranchInput,
  type DiffRecord, type JournalEntryRecord, type MergeOutcome, type NetboxVersion, type ObjectKind, type StoredObject, type VirtualDiskInput,
  type VmInput, type VmInterfaceInput, type VmPatch,
} from './model';
export { pythonJsonDumps } from './pyjson';
export type { DeliveryOutcome, SendOptions, WebhookDelivery, WebhookTarget, WebhookTargetInput } from './webhooks';
export { RestRenderer } from './rest';
export { startCaptureReceiver, type CaptureReceiver, type ReceivedRequest } from './receiver';
