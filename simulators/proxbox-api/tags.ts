import { Hono, type Context } from 'hono';
import { TagRequest } from '../../contracts/proxbox-api';
import type { FakeEndpoint, FakeProxmox } from './fake-proxmox';
import { writeGate } from './gate';
import { e1, e2, e3, errorsOf, intParam, parseBody } from './http';
import { errorText } from './pve-errors';

/** proxbox-api.md §7 tag parsing: split on `;`, trim, lowercase, drop empties and duplicates, keep order. */
export function parseTags(raw: unknown): string[] {
  if (raw === undefined || raw === null) return [];
  const out: string[] = [];
  for (const t of String(raw).split(';')) {
    const tag = t.trim().toLowerCase();
    if (tag && !out.includes(tag)) out.push(tag);
  }
  return out;
}

type Resolved = { ok: true; endpoint: FakeEndpoint } | { ok: false; response: Response };

/** With `endpoint_id` the gate decides; without it the single `allow_writes` endpoint is used, `enabled` ignored. */
function resolveEndpoint(c: Context, cluster: FakeProxmox, endpointId: number | undefined): Resolved {
  if (endpointId !== undefined) {
    const gate = writeGate(cluster, endpointId);
    return gate.ok ? { ok: true, endpoint: gate.endpoint } : { ok: false, response: e3(c, 403, gate.body) };
  }
  const writable = cluster.listEndpoints().filter((e) => e.allow_writes);
  if (writable.length === 0) {
    return {
      ok: false,
      response: e3(c, 403, {
        reason: 'no_write_enabled_endpoint',
        detail: 'No ProxmoxEndpoint with allow_writes=True exists. Enable allow_writes on the target endpoint in NetBox.',
      }),
    };
  }
  if (writable.length > 1) {
    return {
      ok: false,
      response: e3(c, 422, {
        reason: 'ambiguous_endpoint',
        detail: 'Multiple write-enabled ProxmoxEndpoints found. Pass endpoint_id as a query parameter to target a specific cluster.',
        endpoint_ids: writable.map((e) => e.id),
      }),
    };
  }
  return { ok: true, endpoint: writable[0]! };
}

function tagRoute(cluster: FakeProxmox, mode: 'tag' | 'untag') {
  return async (c: Context) => {
    const endpointId = intParam(c.req.query('endpoint_id'), 'query', 'endpoint_id', false);
    const body = await parseBody(c, TagRequest);
    if (!endpointId.ok || !body.ok) return e1(c, errorsOf(endpointId, body));
    const resolved = resolveEndpoint(c, cluster, endpointId.value);
    if (!resolved.ok) return resolved.response;
    const { vmid, node, kind, tag } = body.value;
    try {
      const api = cluster.connect(resolved.endpoint.id);
      const before = parseTags(api.getConfig(node, kind, vmid).tags);
      // The requested tag is compared as sent, against the lowercased list (proxbox-api.md §7 quirk).
      const after = mode === 'tag' ? (before.includes(tag) ? before : [...before, tag]) : before.filter((t) => t !== tag);
      const tagsAfter = after.map((t) => t.toLowerCase());
      if (after.length !== before.length) api.updateConfig(node, kind, vmid, { tags: tagsAfter.join(';') });
      return c.json({ ok: true, vmid, node, kind, tag, tags_after: tagsAfter });
    } catch (e) {
      return e2(c, 502, `Proxmox API call failed: ${errorText(e)}`);
    }
  };
}

/** `PUT /intent/tag-pending-deletion` and `PUT /intent/untag-pending-deletion` (proxbox-api.md §7). */
export function tagRoutes(cluster: FakeProxmox): Hono {
  const app = new Hono();
  app.put('/intent/tag-pending-deletion', tagRoute(cluster, 'tag'));
  app.put('/intent/untag-pending-deletion', tagRoute(cluster, 'untag'));
  return app;
}
