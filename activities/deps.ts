import type { ApplyJobStore } from '../db/apply-jobs';
import type { ApplyWorkItemStore } from '../db/apply-work-items';
import type { DeletionRequestStore } from '../db/deletion-requests';
import type { EndpointStore } from '../db/endpoints';
import type { SettingsStore } from '../db/settings';
import type { UserStore } from '../db/users';
import type { NetboxClient } from '../clients/netbox';
import type { WriteLocks } from '../db/locks';
import type { Db } from '../db/client';
import type { BackendConfig } from '../db/endpoints';
import { proxboxClientFor, type ProxboxClient } from '../clients/proxbox';
import type { UpstreamErrorObserver } from '../clients/errors';

/** What the activities measure (infra/metrics.ts ProcessMetrics in the worker; nothing in unit tests). */
export interface ActivityMetrics {
  /** One create or update, from its write slot to its recorded result, by the result's status. */
  vmWrite(labels: { op: string; kind: string; status: string }, seconds: number): void;
  /** One Proxmox task followed until it ended (`ok`, `failed`) or could not be (`deadline`, `unfollowable`). */
  proxmoxTask(labels: { op: string; outcome: string }, seconds: number): void;
}

export const NO_METRICS: ActivityMetrics = { vmWrite() {}, proxmoxTask() {} };

/** What activities need from the outside world, injected so tests and the dev stack wire real adapters. */
export interface ActivityDeps {
  jobs: ApplyJobStore;
  /** The work lists of apply jobs, written at plan time and read in pages. */
  workItems: ApplyWorkItemStore;
  deletions: DeletionRequestStore;
  settings: SettingsStore;
  endpoints: EndpointStore;
  users: UserStore;
  netbox: NetboxClient;
  approvalSecret: string;
  /** For reads that span several stores in one round trip (the gates before each write). */
  db: Db;
  locks: WriteLocks;
  /** How many writes one run keeps in flight (APPLY_MAX_CONCURRENCY). */
  maxConcurrency?: number;
  /** How many writes may run against one Proxmox node at once (APPLY_MAX_PER_NODE). */
  maxWritesPerNode?: number;
  /** How many items one run of an apply dispatches before it continues as new (APPLY_ITEMS_PER_RUN). */
  itemsPerRun?: number;
  /** The first wait between two task-status reads (PROXMOX_TASK_POLL_MS). */
  taskPollMs?: number;
  taskDeadlineMs?: number;
  metrics?: ActivityMetrics;
  /** Told of every failed NetBox or proxbox-api call of the activities (the process's metrics). */
  onUpstreamError?: UpstreamErrorObserver;
}

/** The proxbox-api client for the configured backend, or null when no FastAPIEndpoint is configured. */
export async function backendClient(deps: ActivityDeps): Promise<{ client: ProxboxClient; baseUrl: string; config: BackendConfig } | null> {
  const backend = await deps.endpoints.getBackend();
  return backend ? { ...clientFor(backend, deps.onUpstreamError), config: backend } : null;
}

/** The client for a backend configuration (clients/proxbox proxboxClientFor: one per configuration and observer). */
export function clientFor(backend: BackendConfig, onError?: UpstreamErrorObserver): { client: ProxboxClient; baseUrl: string } {
  return { client: proxboxClientFor(backend, onError), baseUrl: backend.url };
}
