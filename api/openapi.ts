import { z } from 'zod';
import { SettingsChange } from '../domain/settings';
import { BackendInput, EndpointInput, EndpointPatch } from './routes/endpoints';
import { ApproveBody, DeletionListQuery, RejectBody } from './routes/deletion-requests';
import { JobListQuery, StartApplyBody } from './routes/apply-jobs';
import { NewToken, NewUser, UserPatch } from './routes/users';
import { AuditLogQuery } from './routes/audit-log';
import { PlanBody, PlanSummaryQuery } from './routes/plan';
import { CodecBody } from './routes/codec';

interface RouteDoc { method: 'get' | 'post' | 'put' | 'patch' | 'delete'; path: string; summary: string; permission?: string; body?: z.ZodType; query?: z.ZodObject }

const ROUTES: RouteDoc[] = [
  { method: 'post', path: '/api/v1/hooks/netbox', summary: 'NetBox branch_merged webhook (X-Hook-Signature, HMAC-SHA512 of the raw body)' },
  { method: 'get', path: '/api/v1/apply-jobs', summary: 'List apply jobs', permission: 'view', query: JobListQuery },
  { method: 'post', path: '/api/v1/apply-jobs', summary: 'Start the apply of a merged branch (one run per merge, ever; 409 merge_too_old past RECONCILE_LOOKBACK_H unless re-applied with reapply_merge and reapplyConfirmation)', permission: 'trigger_apply', body: StartApplyBody },
  { method: 'get', path: '/api/v1/apply-jobs/{id}', summary: 'An apply job with its per-VM results', permission: 'view' },
  { method: 'post', path: '/api/v1/apply-jobs/{id}/cancel', summary: 'Cancel a queued or running apply job', permission: 'cancel_apply_job' },
  { method: 'get', path: '/api/v1/apply-jobs/{id}/events', summary: 'Live SSE log (resumable with Last-Event-ID)', permission: 'view' },
  { method: 'get', path: '/api/v1/deletion-requests', summary: 'List deletion requests', permission: 'view', query: DeletionListQuery },
  { method: 'get', path: '/api/v1/deletion-requests/{id}', summary: 'A deletion request with its history', permission: 'view' },
  { method: 'post', path: '/api/v1/deletion-requests/{id}/approve', summary: 'Approve (four eyes; type the VMID)', permission: 'authorize_deletion_request', body: ApproveBody },
  { method: 'post', path: '/api/v1/deletion-requests/{id}/reject', summary: 'Reject with a reason', permission: 'authorize_deletion_request', body: RejectBody },
  { method: 'post', path: '/api/v1/branches/{branchId}/plan', summary: 'Read-only plan of a branch: the merge validator (answers within 4.5 s, fails closed)', permission: 'view', body: PlanBody },
  { method: 'get', path: '/api/v1/branches/{branchId}/plan-summary', summary: 'The same plan for people (HTML with Accept: text/html)', permission: 'view', query: PlanSummaryQuery },
  { method: 'get', path: '/api/v1/settings', summary: 'Intent settings', permission: 'view' },
  { method: 'put', path: '/api/v1/settings', summary: 'Change settings (the master flag and self-approval each need their typed phrase)', permission: 'manage_settings', body: SettingsChange },
  { method: 'get', path: '/api/v1/backend', summary: 'The proxbox-api backend (API key never returned)', permission: 'view' },
  { method: 'put', path: '/api/v1/backend', summary: 'Configure the proxbox-api backend (a new URL needs the key again; https only unless PROXBOX_API_ALLOW_HTTP)', permission: 'manage_settings', body: BackendInput },
  { method: 'get', path: '/api/v1/proxmox-endpoints', summary: 'List Proxmox endpoints', permission: 'view' },
  { method: 'post', path: '/api/v1/proxmox-endpoints', summary: 'Add a Proxmox endpoint', permission: 'manage_settings', body: EndpointInput },
  { method: 'get', path: '/api/v1/proxmox-endpoints/{id}', summary: 'A Proxmox endpoint', permission: 'view' },
  { method: 'patch', path: '/api/v1/proxmox-endpoints/{id}', summary: 'Change a Proxmox endpoint', permission: 'manage_settings', body: EndpointPatch },
  { method: 'delete', path: '/api/v1/proxmox-endpoints/{id}', summary: 'Remove a Proxmox endpoint', permission: 'manage_settings' },
  { method: 'get', path: '/api/v1/users', summary: 'List users', permission: 'manage_users' },
  { method: 'post', path: '/api/v1/users', summary: 'Add a user', permission: 'manage_users', body: NewUser },
  { method: 'patch', path: '/api/v1/users/{username}', summary: 'Set a user\'s permissions', permission: 'manage_users', body: UserPatch },
  { method: 'delete', path: '/api/v1/users/{username}', summary: 'Remove a user', permission: 'manage_users' },
  { method: 'get', path: '/api/v1/users/{username}/tokens', summary: 'A user\'s tokens: id, issued by, created, expires, last used (never the token)', permission: 'manage_users' },
  { method: 'post', path: '/api/v1/users/{username}/tokens', summary: 'Create a token (shown once; expiresAt, or the settings\' tokenLifetimeDays)', permission: 'manage_users', body: NewToken },
  { method: 'delete', path: '/api/v1/users/{username}/tokens/{tokenId}', summary: 'Revoke a token', permission: 'manage_users' },
  { method: 'get', path: '/api/v1/audit-log', summary: 'Every administrative change, newest first (secrets masked)', permission: 'manage_users or manage_settings', query: AuditLogQuery },
  { method: 'get', path: '/api/v1/me', summary: 'Who am I' },
  { method: 'post', path: '/codec/decode', summary: 'Temporal remote codec: decrypt payloads (Bearer token or the /codec browser session; X-Namespace)', permission: 'view', body: CodecBody },
  { method: 'post', path: '/codec/encode', summary: 'Temporal remote codec: encrypt payloads', permission: 'manage_settings', body: CodecBody },
  { method: 'get', path: '/codec', summary: 'Sign a browser in for the Temporal UI\'s codec (HTML)' },
  { method: 'post', path: '/codec/session', summary: 'Keep the Bearer token in an HttpOnly cookie for /codec/decode (8 hours)', permission: 'view' },
  { method: 'delete', path: '/codec/session', summary: 'Forget the codec browser session' },
  { method: 'get', path: '/healthz', summary: 'Process alive' },
  { method: 'get', path: '/readyz', summary: 'Database and Temporal reachable' },
  { method: 'get', path: '/metrics', summary: 'Prometheus metrics' },
];

const PROBLEM = { description: 'Error', content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } } };

export function openApiDocument() {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const r of ROUTES) {
    const params = [...r.path.matchAll(/\{(\w+)\}/g)].map((m) => ({ name: m[1], in: 'path', required: true, schema: { type: 'string' } }));
    const query = r.query ? Object.entries(z.toJSONSchema(r.query, { io: 'input' }).properties ?? {}).map(([name, schema]) => ({ name, in: 'query', required: false, schema })) : [];
    (paths[r.path] ??= {})[r.method] = {
      summary: r.summary,
      ...(r.permission ? { description: `Requires the \`${r.permission}\` permission.` } : {}),
      ...((r.path.startsWith('/api/v1/') || r.permission) && !r.path.includes('/hooks/') ? { security: [{ bearer: [] }] } : {}),
      parameters: [...params, ...query],
      ...(r.body ? { requestBody: { required: true, content: { 'application/json': { schema: z.toJSONSchema(r.body, { io: 'input' }) } } } } : {}),
      responses: {
        200: { description: 'OK' }, 400: PROBLEM, 401: PROBLEM, 403: PROBLEM, 404: PROBLEM, 409: PROBLEM, 413: PROBLEM, 415: PROBLEM, 422: PROBLEM,
        429: { ...PROBLEM, headers: { 'Retry-After': { schema: { type: 'integer' }, description: 'Seconds to wait' } } },
      },
    };
  }
  return {
    openapi: '3.1.0',
    info: { title: 'proxbox-intent', version: '0.1.0', description: 'Turns merged NetBox branches into Proxmox changes, durably, on Temporal.' },
    paths,
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
      schemas: {
        Problem: {
          type: 'object', required: ['type', 'title', 'status', 'detail', 'code'],
          properties: { type: { type: 'string' }, title: { type: 'string' }, status: { type: 'integer' }, detail: { type: 'string' }, code: { type: 'string' },
            errors: { type: 'array', items: { type: 'object', properties: { path: { type: 'string' }, message: { type: 'string' } } } } },
        },
      },
    },
  };
}

export function docsPage(): string {
  const doc = openApiDocument();
  const rows = Object.entries(doc.paths).flatMap(([path, ops]) => Object.entries(ops).map(([m, op]) => {
    const o = op as { summary: string; description?: string };
    return `<tr><td><code>${m.toUpperCase()}</code></td><td><code>${path}</code></td><td>${o.summary}</td><td>${o.description ?? ''}</td></tr>`;
  }));
  return `<!doctype html><html><head><meta charset="utf-8"><title>proxbox-intent API</title>
<style>body{font-family:system-ui,sans-serif;margin:2rem}table{border-collapse:collapse}td{border-bottom:1px solid #ddd;padding:.3rem .6rem}</style></head>
<body><h1>proxbox-intent API</h1><p>Machine-readable: <a href="/openapi.json">/openapi.json</a>. Errors are <code>application/problem+json</code>.</p>
<table>${rows.join('')}</table></body></html>`;
}
