import type { ApplyJobStore } from '../db/apply-jobs';
import type { DeletionRequestStore } from '../db/deletion-requests';
import type { EndpointStore } from '../db/endpoints';
import type { SettingsStore } from '../db/settings';
import type { UserStore } from '../db/users';
import type { NetboxClient } from '../clients/netbox';
import type { WriteLocks } from '../db/locks';
import type { Db } from '../db/client';
import type { BackendConfig } from '../db/endpoints';
import { ProxboxClient, type Capabilities } from '../clients/proxbox';

/** What activities need from the outside world, injected so tests and the dev stack wire real adapters. */
export interface ActivityDeps {
  jobs: ApplyJobStore;
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
  /** Interval between task-status polls; tests shorten it. */
  taskPollMs?: number;
  taskDeadlineMs?: number;
}

/** The proxbox-api client for the configured backend, or null when no FastAPIEndpoint is configured. */
export async function backendClient(deps: ActivityDeps): Promise<{ client: ProxboxClient; baseUrl: string; config: BackendConfig } | null> {
  const backend = await deps.endpoints.getBackend();
  return backend ? { ...clientFor(backend), config: backend } : null;
}

const clients = new Map<string, ProxboxClient>();

/** The client for a backend configuration; the same configuration reuses one client (and its HTTP connections). */
export function clientFor(backend: BackendConfig): { client: ProxboxClient; baseUrl: string } {
  const id = JSON.stringify([backend.url, backend.apiKey, backend.timeoutMs]);
  let client = clients.get(id);
  if (!client) {
    // A rotated key or a new URL makes a new client; the oldest go, so keys no longer used are not kept for long.
    if (clients.size >= 8) clients.delete(clients.keys().next().value!);
    client = new ProxboxClient({ baseUrl: backend.url, apiKey: backend.apiKey, timeoutMs: backend.timeoutMs });
    clients.set(id, client);
  }
  return { client, baseUrl: backend.url };
}

const CAPABILITY_TTL_MS = 10 * 60_000;
const capabilityCache = new Map<string, { at: number; caps: Capabilities }>();

/** §10 discovery, cached for at most ten minutes per backend URL; `fresh` re-checks (before a destroy). */
export async function capabilitiesOf(client: ProxboxClient, baseUrl: string, fresh = false, signal?: AbortSignal): Promise<Capabilities> {
  const hit = capabilityCache.get(baseUrl);
  if (!fresh && hit && Date.now() - hit.at < CAPABILITY_TTL_MS) return hit.caps;
  const caps = await client.capabilities(signal);
  capabilityCache.set(baseUrl, { at: Date.now(), caps });
  return caps;
}
