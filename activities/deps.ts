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
}

/** The proxbox-api client for the configured backend, or null when no FastAPIEndpoint is configured. */
export async function backendClient(deps: ActivityDeps): Promise<{ client: ProxboxClient; baseUrl: string; config: BackendConfig } | null> {
  const backend = await deps.endpoints.getBackend();
  return backend ? { ...clientFor(backend), config: backend } : null;
}

/** The client for a backend configuration (clients/proxbox proxboxClientFor: one per configuration). */
export function clientFor(backend: BackendConfig): { client: ProxboxClient; baseUrl: string } {
  return { client: proxboxClientFor(backend), baseUrl: backend.url };
}
