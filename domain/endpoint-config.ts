import { z } from 'zod';
import { BRIDGE_NAME } from './nics';

/** What an administrator sets for the proxbox-api backend (the API's PUT /backend and the endpoints page). */
export const BackendInput = z.strictObject({
  url: z.url({ protocol: /^https?$/ }),
  apiKey: z.string().min(1).max(500).optional(),
  timeoutMs: z.number().int().min(100).max(600_000).optional(),
});

const endpointFields = {
  name: z.string().trim().min(1).max(100),
  backendEndpointId: z.number().int().positive(),
  allowWrites: z.boolean(),
  clusters: z.array(z.string().trim().min(1).max(100)).max(500),
  isDefault: z.boolean(),
  /** The Proxmox bridge of NICs whose interface and VM name none (domain/nics.ts). */
  defaultBridge: z.string().regex(BRIDGE_NAME, "a Proxmox bridge name: letters, digits, '-', '_' or '.', at most 15 characters (for example vmbr0)").nullable(),
};
/** A new Proxmox endpoint. */
export const EndpointInput = z.strictObject({
  ...endpointFields,
  allowWrites: endpointFields.allowWrites.default(false),
  clusters: endpointFields.clusters.default([]),
  isDefault: endpointFields.isDefault.default(false),
  defaultBridge: endpointFields.defaultBridge.default(null),
});
// No defaults here: a PATCH changes only the fields it names (`{allowWrites: false}` must not empty `clusters`).
export const EndpointPatch = z.strictObject(endpointFields).partial().refine((p) => Object.keys(p).length > 0, 'at least one field is required');

export const NO_ENDPOINT = 'No Proxmox endpoint with this id.';
export const NAME_TAKEN = 'An endpoint with this name already exists.';
