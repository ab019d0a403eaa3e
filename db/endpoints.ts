import { eq, sql } from 'drizzle-orm';
import type { Db } from './client';
import { backend, proxmoxEndpoints } from './schema';

export interface BackendConfig { url: string; apiKey: string; timeoutMs: number }
export interface ProxmoxEndpointRow {
  id: number; name: string; backendEndpointId: number; allowWrites: boolean; clusters: string[]; isDefault: boolean;
}
export type EndpointInput = Omit<ProxmoxEndpointRow, 'id'>;

export class EndpointStore {
  constructor(private readonly db: Db) {}

  async getBackend(): Promise<BackendConfig | undefined> {
    const [row] = await this.db.select({ url: backend.url, apiKey: backend.apiKey, timeoutMs: backend.timeoutMs }).from(backend);
    return row;
  }

  async putBackend(input: { url: string; apiKey?: string; timeoutMs?: number }): Promise<BackendConfig | 'api_key_required'> {
    const current = await this.getBackend();
    const apiKey = input.apiKey ?? current?.apiKey;
    if (!apiKey) return 'api_key_required';
    const next = { url: input.url, apiKey, timeoutMs: input.timeoutMs ?? current?.timeoutMs ?? 30_000 };
    await this.db.insert(backend).values({ id: 1, ...next })
      .onConflictDoUpdate({ target: backend.id, set: { ...next, updatedAt: new Date() } });
    return next;
  }

  async list(): Promise<ProxmoxEndpointRow[]> {
    return this.db.select(endpointColumns).from(proxmoxEndpoints).orderBy(proxmoxEndpoints.id);
  }

  async get(id: number): Promise<ProxmoxEndpointRow | undefined> {
    const [row] = await this.db.select(endpointColumns).from(proxmoxEndpoints).where(eq(proxmoxEndpoints.id, id));
    return row;
  }

  async create(input: EndpointInput): Promise<ProxmoxEndpointRow | 'name_taken'> {
    return this.db.transaction(async (tx) => {
      if (input.isDefault) await tx.update(proxmoxEndpoints).set({ isDefault: false }).where(eq(proxmoxEndpoints.isDefault, true));
      const [row] = await tx.insert(proxmoxEndpoints).values(input).onConflictDoNothing().returning(endpointColumns);
      return row ?? 'name_taken';
    });
  }

  async update(id: number, patch: Partial<EndpointInput>): Promise<ProxmoxEndpointRow | undefined | 'name_taken'> {
    return this.db.transaction(async (tx) => {
      if (patch.isDefault) await tx.update(proxmoxEndpoints).set({ isDefault: false }).where(eq(proxmoxEndpoints.isDefault, true));
      if (patch.name) {
        const [clash] = await tx.select({ id: proxmoxEndpoints.id }).from(proxmoxEndpoints).where(eq(proxmoxEndpoints.name, patch.name));
        if (clash && clash.id !== id) return 'name_taken';
      }
      const [row] = await tx.update(proxmoxEndpoints).set({ ...patch, updatedAt: new Date() })
        .where(eq(proxmoxEndpoints.id, id)).returning(endpointColumns);
      return row;
    });
  }

  async delete(id: number): Promise<boolean> {
    return (await this.db.delete(proxmoxEndpoints).where(eq(proxmoxEndpoints.id, id)).returning({ id: proxmoxEndpoints.id })).length > 0;
  }

  /** Environment values seed an empty database once; afterwards the API owns them. */
  async seedFromEnvironment(env: { PROXBOX_API_URL?: string; PROXBOX_API_KEY?: string; PROXBOX_ENDPOINT_ID?: number; PROXBOX_ENDPOINT_CLUSTERS?: string }): Promise<void> {
    if (env.PROXBOX_API_URL && env.PROXBOX_API_KEY && !(await this.getBackend())) {
      await this.db.insert(backend).values({ id: 1, url: env.PROXBOX_API_URL, apiKey: env.PROXBOX_API_KEY }).onConflictDoNothing();
    }
    if (env.PROXBOX_ENDPOINT_ID) {
      const [{ count } = { count: 0 }] = await this.db.select({ count: sql<number>`count(*)::int` }).from(proxmoxEndpoints);
      if (count === 0) {
        await this.db.insert(proxmoxEndpoints).values({
          name: `proxbox-endpoint-${env.PROXBOX_ENDPOINT_ID}`,
          backendEndpointId: env.PROXBOX_ENDPOINT_ID,
          allowWrites: false,
          clusters: (env.PROXBOX_ENDPOINT_CLUSTERS ?? '').split(',').map((s) => s.trim()).filter(Boolean),
          isDefault: true,
        }).onConflictDoNothing();
      }
    }
  }
}

const endpointColumns = {
  id: proxmoxEndpoints.id,
  name: proxmoxEndpoints.name,
  backendEndpointId: proxmoxEndpoints.backendEndpointId,
  allowWrites: proxmoxEndpoints.allowWrites,
  clusters: proxmoxEndpoints.clusters,
  isDefault: proxmoxEndpoints.isDefault,
};
