import { sql } from 'drizzle-orm';
import type { Db } from './client';
import type { BackendConfig, ProxmoxEndpointRow, StoredBackend } from './endpoints';
import { settingsOfJson } from './settings';
import { DEFAULT_SETTINGS, type IntentSettings } from '../domain/settings';

/** Everything the gates need right before a write, read in one round trip (it runs once per Proxmox write). */
export interface GateFacts {
  settings: IntentSettings;
  backend: BackendConfig | null;
  endpoint: ProxmoxEndpointRow | null;
  permissions: string[];
}

/** `backends` decrypts the stored API key after the read (EndpointStore.openBackend; a refused URL counts as none). */
export async function readGateFacts(db: Db, endpointId: number, username: string | null,
  backends: { openBackend(row: StoredBackend): BackendConfig | null }): Promise<GateFacts> {
  const rows = await db.execute(sql`
    select
      (select to_json(s) from settings s where id = 1) as settings,
      (select json_build_object('url', url, 'apiKey', api_key, 'timeoutMs', timeout_ms) from backend where id = 1) as backend,
      (select json_build_object('id', id, 'name', name, 'backendEndpointId', backend_endpoint_id, 'allowWrites', allow_writes,
        'clusters', clusters, 'isDefault', is_default, 'defaultBridge', default_bridge) from proxmox_endpoints where id = ${endpointId}) as endpoint,
      (select to_json(permissions) from users where username = ${username ?? ''}) as permissions`);
  const row = (Array.isArray(rows) ? rows[0] : (rows as unknown as { rows: unknown[] }).rows[0]) as {
    settings: Record<string, unknown> | null; backend: StoredBackend | null; endpoint: ProxmoxEndpointRow | null; permissions: string[] | null;
  };
  return {
    settings: row.settings ? settingsOfJson(row.settings) : { ...DEFAULT_SETTINGS },
    backend: row.backend ? backends.openBackend(row.backend) : null,
    endpoint: row.endpoint,
    permissions: username ? row.permissions ?? [] : [],
  };
}
