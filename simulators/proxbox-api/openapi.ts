import { CAPABILITY_REGISTER_DELETION, CAPABILITY_TASK_STATUS } from '../../contracts/proxbox-api';
import { PROXY_OPENAPI_PATHS } from './proxy';

export const SIMULATED_VERSION = '0.0.19.post5';

type Method = 'get' | 'post' | 'put' | 'delete';

/** Every upstream route the simulator serves, as `[method, OpenAPI path]`. */
const BASE_OPERATIONS: [Method, string][] = [
  ['get', '/health'],
  ['get', '/version'],
  ['get', '/proxmox/endpoints'],
  ['get', '/proxmox/endpoints/{id}'],
  ['post', '/intent/plan'],
  ['post', '/intent/apply'],
  ['post', '/intent/deletion-requests/{id}/approve'],
  ['post', '/intent/deletion-requests/{id}/reject'],
  ['post', '/intent/deletion-requests/{id}/execute'],
  ['put', '/intent/tag-pending-deletion'],
  ['put', '/intent/untag-pending-deletion'],
  ['get', '/proxmox/cluster/resources'],
  ['get', '/proxmox/{node}/{type}/{vmid}/config'],
  ['get', '/proxmox/nodes/{node}/qemu'],
  ['get', '/proxmox/nodes/{node}/storage/{storage}/content'],
  ...PROXY_OPENAPI_PATHS.map((p): [Method, string] => ['get', p]),
];

export interface Capabilities { registerDeletion: boolean; taskStatus: boolean }

export function operations(caps: Capabilities): [Method, string][] {
  const ops = [...BASE_OPERATIONS];
  if (caps.registerDeletion) ops.push([CAPABILITY_REGISTER_DELETION.method, CAPABILITY_REGISTER_DELETION.path]);
  if (caps.taskStatus) ops.push([CAPABILITY_TASK_STATUS.method, CAPABILITY_TASK_STATUS.path]);
  return ops;
}

/** A minimal OpenAPI document: clients read only the `paths` keys and their methods (proxbox-api.md §10). */
export function openapiDocument(caps: Capabilities) {
  const paths: Record<string, Record<string, { operationId: string; summary: string }>> = {};
  for (const [method, path] of operations(caps)) {
    const operationId = `${method}${path.replace(/[{}]/g, '').replace(/[/-]/g, '_')}`;
    (paths[path] ??= {})[method] = { operationId, summary: `${method.toUpperCase()} ${path}` };
  }
  return { openapi: '3.1.0', info: { title: 'Proxbox Backend (simulated)', version: SIMULATED_VERSION }, paths };
}
