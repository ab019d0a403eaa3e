import type { DeletionRecord, DeletionState, GuestKind } from '../../contracts/proxbox-api';

/** A deletion request row in proxbox-api's database (proxbox-api.md §6); the last two columns exist only with proxbox-api.md §10 (a). */
export interface StoredDeletion extends DeletionRecord {
  requested_by: string | null;
  client_ref: string | null;
}

export interface DeletionSeed {
  id?: number;
  endpoint_id: number;
  vmid: number;
  node: string;
  kind: GuestKind;
  state?: DeletionState;
  requested_by?: string | null;
  client_ref?: string | null;
  created_at?: number;
}

const nowSeconds = () => Date.now() / 1000;

export class DeletionStore {
  private readonly records = new Map<number, StoredDeletion>();
  private nextId = 1;

  create(seed: DeletionSeed): StoredDeletion {
    const id = seed.id ?? this.nextId;
    if (this.records.has(id)) throw new Error(`deletion request ${id} already exists`);
    this.nextId = Math.max(this.nextId, id + 1);
    const at = seed.created_at ?? nowSeconds();
    const record: StoredDeletion = {
      id, endpoint_id: seed.endpoint_id, vmid: seed.vmid, node: seed.node, kind: seed.kind,
      state: seed.state ?? 'pending', created_at: at, updated_at: at,
      requested_by: seed.requested_by ?? null, client_ref: seed.client_ref ?? null,
    };
    this.records.set(id, record);
    return record;
  }

  get(id: number): StoredDeletion | undefined {
    return this.records.get(id);
  }

  findByClientRef(ref: string): StoredDeletion | undefined {
    return [...this.records.values()].find((r) => r.client_ref === ref);
  }

  setState(record: StoredDeletion, state: DeletionState): void {
    record.state = state;
    record.updated_at = Math.max(nowSeconds(), record.updated_at);
  }

  list(): StoredDeletion[] {
    return [...this.records.values()].map((r) => ({ ...r }));
  }

  reset(): void {
    this.records.clear();
    this.nextId = 1;
  }
}

/** The proxbox-api.md §6 record body returned by approve and reject. */
export function recordBody(r: StoredDeletion): DeletionRecord {
  return {
    id: r.id, endpoint_id: r.endpoint_id, vmid: r.vmid, node: r.node, kind: r.kind, state: r.state,
    created_at: r.created_at, updated_at: r.updated_at,
  };
}
