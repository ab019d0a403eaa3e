import { eq, sql } from 'drizzle-orm';
import type { Db } from './client';
import { record } from './audit-log';
import { backend, proxmoxEndpoints } from './schema';
import { diffForAudit } from '../domain/audit';
import { backendUrlRefusal, normalizeBackendUrl, type BackendUrlPolicy } from '../domain/backend-url';
import type { SecretBox } from '../domain/secret-box';
import { systemActor, type Actor } from '../domain/tokens';

export interface BackendConfig { url: string; apiKey: string; timeoutMs: number }
/** The backend row as stored: `apiKey` is sealed (domain/secret-box.ts). */
export interface StoredBackend { url: string; apiKey: string; timeoutMs: number }
export interface ProxmoxEndpointRow {
  id: number; name: string; backendEndpointId: number; allowWrites: boolean; clusters: string[]; isDefault: boolean;
  defaultBridge: string | null;
}
export type EndpointInput = Omit<ProxmoxEndpointRow, 'id' | 'defaultBridge'> & { defaultBridge?: string | null };

export type BackendChangeRefusal =
  | { code: 'api_key_required'; detail: string }
  | { code: 'backend_url_refused'; detail: string };

/** The authenticated data that binds a sealed API key to the backend row. */
const API_KEY_CONTEXT = 'backend.api_key';
const SYSTEM = systemActor('internal');

export interface EndpointStoreOptions {
  /** Seals the proxbox-api key at rest. */
  secrets: SecretBox;
  /** Where the key may be sent (PROXBOX_API_ALLOW_HTTP, PROXBOX_API_ALLOWED_HOSTS). */
  urlPolicy: BackendUrlPolicy;
}

export class EndpointStore {
  constructor(private readonly db: Db, private readonly opts: EndpointStoreOptions) {}

  /**
   * The backend with its key decrypted, for the proxbox-api client only (never for an answer or a log). A stored URL
   * that the current policy refuses (PROXBOX_API_ALLOW_HTTP or PROXBOX_API_ALLOWED_HOSTS tightened since it was set)
   * counts as no backend: nothing is sent there until the URL is set again.
   */
  async getBackend(): Promise<BackendConfig | undefined> {
    const [row] = await this.db.select({ url: backend.url, apiKey: backend.apiKey, timeoutMs: backend.timeoutMs }).from(backend);
    return (row && this.openBackend(row)) ?? undefined;
  }

  /** Decrypts a backend row read elsewhere (db/gate-facts.ts reads it in its one round trip); null when its URL is refused. */
  openBackend(row: StoredBackend): BackendConfig | null {
    if (backendUrlRefusal(row.url, this.opts.urlPolicy)) return null;
    return { ...row, apiKey: this.opts.secrets.open(row.apiKey, API_KEY_CONTEXT) };
  }

  /** What `GET /backend` shows: never the key (it is not even decrypted), and why the URL is refused, if it is. */
  async describeBackend(): Promise<{ url: string; timeoutMs: number; urlRefusal: string | null } | undefined> {
    const [row] = await this.db.select({ url: backend.url, timeoutMs: backend.timeoutMs }).from(backend);
    return row ? { ...row, urlRefusal: backendUrlRefusal(row.url, this.opts.urlPolicy) } : undefined;
  }

  /**
   * Sets the backend. The key goes only where the URL policy allows, and a changed URL needs the key again in the same
   * change: otherwise whoever may change settings could send the stored key to a host of their choosing.
   */
  async putBackend(input: { url: string; apiKey?: string; timeoutMs?: number }, by: Actor = SYSTEM): Promise<BackendConfig | BackendChangeRefusal> {
    const url = normalizeBackendUrl(input.url);
    const refused = backendUrlRefusal(url, this.opts.urlPolicy);
    if (refused) return { code: 'backend_url_refused', detail: `The backend URL is refused: ${refused}.` };
    return this.db.transaction(async (tx) => {
      const [stored] = await tx.select({ url: backend.url, apiKey: backend.apiKey, timeoutMs: backend.timeoutMs }).from(backend).for('update');
      // The key of a refused URL is still the key: open it regardless of the policy to compare and keep it.
      const current = stored ? { ...stored, apiKey: this.opts.secrets.open(stored.apiKey, API_KEY_CONTEXT) } : undefined;
      if (input.apiKey === undefined) {
        if (!current) return { code: 'api_key_required' as const, detail: 'apiKey is required when no backend is configured yet.' };
        if (normalizeBackendUrl(current.url) !== url) {
          return { code: 'api_key_required' as const, detail: 'apiKey is required when the URL changes: the stored key is never sent to a new URL. Give the key again in the same request.' };
        }
      }
      const next = { url, apiKey: input.apiKey ?? current!.apiKey, timeoutMs: input.timeoutMs ?? current?.timeoutMs ?? 30_000 };
      const sealed = { ...next, apiKey: this.opts.secrets.seal(next.apiKey, API_KEY_CONTEXT) };
      await tx.insert(backend).values({ id: 1, ...sealed }).onConflictDoUpdate({ target: backend.id, set: { ...sealed, updatedAt: new Date() } });
      const changes = diffForAudit(current ?? null, next);
      if (Object.keys(changes).length > 0) await record(tx, { actor: by.name, action: 'backend.update', target: 'backend', changes });
      return next;
    });
  }

  /**
   * Seals a key stored in plaintext (written before encryption existed) or with SECRETS_ENCRYPTION_KEY_PREVIOUS under the
   * current key. Idempotent; run at every start. Throws when the stored key opens with neither key.
   */
  async sealStoredSecrets(): Promise<'sealed' | 'unchanged' | 'none'> {
    return this.db.transaction(async (tx) => {
      const [row] = await tx.select({ apiKey: backend.apiKey }).from(backend).for('update');
      if (!row) return 'none';
      if (!this.opts.secrets.needsReseal(row.apiKey)) return 'unchanged';
      const plaintext = this.opts.secrets.open(row.apiKey, API_KEY_CONTEXT);
      await tx.update(backend).set({ apiKey: this.opts.secrets.seal(plaintext, API_KEY_CONTEXT) }).where(eq(backend.id, 1));
      await record(tx, { actor: systemActor('start').name, action: 'backend.reencrypt', target: 'backend', changes: { apiKey: { from: '(masked)', to: '(masked)' } } });
      return 'sealed';
    });
  }

  async list(): Promise<ProxmoxEndpointRow[]> {
    return this.db.select(endpointColumns).from(proxmoxEndpoints).orderBy(proxmoxEndpoints.id);
  }

  async get(id: number): Promise<ProxmoxEndpointRow | undefined> {
    const [row] = await this.db.select(endpointColumns).from(proxmoxEndpoints).where(eq(proxmoxEndpoints.id, id));
    return row;
  }

  async create(input: EndpointInput, by: Actor = SYSTEM): Promise<ProxmoxEndpointRow | 'name_taken'> {
    return this.db.transaction(async (tx) => {
      if (input.isDefault) await tx.update(proxmoxEndpoints).set({ isDefault: false }).where(eq(proxmoxEndpoints.isDefault, true));
      const [row] = await tx.insert(proxmoxEndpoints).values(input).onConflictDoNothing().returning(endpointColumns);
      if (!row) return 'name_taken';
      const { id, ...fields } = row;
      await record(tx, { actor: by.name, action: 'endpoint.create', target: `endpoint:${id}`, changes: diffForAudit(null, fields) });
      return row;
    });
  }

  async update(id: number, patch: Partial<EndpointInput>, by: Actor = SYSTEM): Promise<ProxmoxEndpointRow | undefined | 'name_taken'> {
    return this.db.transaction(async (tx) => {
      const [before] = await tx.select(endpointColumns).from(proxmoxEndpoints).where(eq(proxmoxEndpoints.id, id)).for('update');
      if (!before) return undefined;
      if (patch.isDefault) await tx.update(proxmoxEndpoints).set({ isDefault: false }).where(eq(proxmoxEndpoints.isDefault, true));
      if (patch.name) {
        const [clash] = await tx.select({ id: proxmoxEndpoints.id }).from(proxmoxEndpoints).where(eq(proxmoxEndpoints.name, patch.name));
        if (clash && clash.id !== id) return 'name_taken';
      }
      const [row] = await tx.update(proxmoxEndpoints).set({ ...patch, updatedAt: new Date() })
        .where(eq(proxmoxEndpoints.id, id)).returning(endpointColumns);
      const changes = diffForAudit(before, row!);
      if (Object.keys(changes).length > 0) await record(tx, { actor: by.name, action: 'endpoint.update', target: `endpoint:${id}`, changes });
      return row;
    });
  }

  async delete(id: number, by: Actor = SYSTEM): Promise<boolean> {
    return this.db.transaction(async (tx) => {
      const [row] = await tx.delete(proxmoxEndpoints).where(eq(proxmoxEndpoints.id, id)).returning(endpointColumns);
      if (!row) return false;
      const { id: _id, ...fields } = row;
      await record(tx, { actor: by.name, action: 'endpoint.delete', target: `endpoint:${id}`, changes: diffForAudit(fields, null) });
      return true;
    });
  }

  /**
   * Environment values seed an empty database once; afterwards the API owns them. The URL obeys the same policy as
   * `PUT /backend` (a refused one throws, which stops the start with its reason), and the key is sealed.
   */
  async seedFromEnvironment(env: { PROXBOX_API_URL?: string; PROXBOX_API_KEY?: string; PROXBOX_ENDPOINT_ID?: number; PROXBOX_ENDPOINT_CLUSTERS?: string }): Promise<void> {
    const by = systemActor('env');
    if (env.PROXBOX_API_URL && env.PROXBOX_API_KEY) {
      const url = normalizeBackendUrl(env.PROXBOX_API_URL);
      const refused = backendUrlRefusal(url, this.opts.urlPolicy);
      if (refused) throw new BackendSeedError(`PROXBOX_API_URL is refused: ${refused}.`);
      await this.db.transaction(async (tx) => {
        const [inserted] = await tx.insert(backend).values({ id: 1, url, apiKey: this.opts.secrets.seal(env.PROXBOX_API_KEY!, API_KEY_CONTEXT) })
          .onConflictDoNothing().returning({ id: backend.id });
        if (inserted) await record(tx, { actor: by.name, action: 'backend.update', target: 'backend', changes: diffForAudit(null, { url, apiKey: env.PROXBOX_API_KEY }) });
      });
    }
    if (env.PROXBOX_ENDPOINT_ID) {
      const [{ count } = { count: 0 }] = await this.db.select({ count: sql<number>`count(*)::int` }).from(proxmoxEndpoints);
      if (count === 0) {
        await this.create({
          name: `proxbox-endpoint-${env.PROXBOX_ENDPOINT_ID}`,
          backendEndpointId: env.PROXBOX_ENDPOINT_ID,
          allowWrites: false,
          clusters: (env.PROXBOX_ENDPOINT_CLUSTERS ?? '').split(',').map((s) => s.trim()).filter(Boolean),
          isDefault: true,
          defaultBridge: null,
        }, by);
      }
    }
  }
}

/** The environment's backend breaks the URL policy: the start stops with this message. */
export class BackendSeedError extends Error {}

const endpointColumns = {
  id: proxmoxEndpoints.id,
  name: proxmoxEndpoints.name,
  backendEndpointId: proxmoxEndpoints.backendEndpointId,
  allowWrites: proxmoxEndpoints.allowWrites,
  clusters: proxmoxEndpoints.clusters,
  isDefault: proxmoxEndpoints.isDefault,
  defaultBridge: proxmoxEndpoints.defaultBridge,
};
