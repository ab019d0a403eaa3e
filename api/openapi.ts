import { OpenAPIHono, createRoute, type RouteConfig } from '@hono/zod-openapi';
import type { Env, MiddlewareHandler } from 'hono';
import type { z } from 'zod';
import { requireAnyPermission, type AuthEnv } from './auth';
import { validationProblem } from './problem';
import { SERVICE_VERSION } from '../domain/service-version';

/**
 * The API document is generated from the routes themselves: every router is an OpenAPIHono whose routes are declared
 * once with `createRoute()` (method, path, zod schemas of params/query/body, permission, answers) and registered with
 * `.openapi(declaration, handler)`, which both serves and documents them. Nothing here lists routes.
 */

const WHERE: Record<string, string> = {
  json: 'request body', query: 'query string', param: 'path', form: 'form', header: 'headers', cookie: 'cookies',
};

/** A router whose zod validation (at the edge) answers failures with 422 problem+json, one entry per issue. */
export function router<E extends Env = AuthEnv>() {
  return new OpenAPIHono<E>({
    defaultHook: (result, c) => {
      if (!result.success) return validationProblem(c, result.error as unknown as z.ZodError, WHERE[result.target] ?? result.target);
    },
  });
}

const PROBLEM_REF = { $ref: '#/components/schemas/Problem' };
const DESCRIPTIONS: Record<number, string> = {
  400: 'Malformed JSON', 401: 'Not authenticated', 403: 'Permission denied or refused', 404: 'Not found', 409: 'Conflict with the current state',
  413: 'Body too large', 415: 'Body is not JSON', 422: 'Invalid input or refused', 429: 'Too many requests', 502: 'An upstream system failed',
  503: 'Not available now', 504: 'No answer in time',
};

/** Problem+json answers for the given statuses (429 with its Retry-After header). */
export function problems(...statuses: number[]): Record<number, { description: string; content: Record<string, { schema: typeof PROBLEM_REF }>; headers?: object }> {
  return Object.fromEntries(statuses.map((status) => [status, {
    description: DESCRIPTIONS[status] ?? 'Error',
    content: { 'application/problem+json': { schema: PROBLEM_REF } },
    ...(status === 429 ? { headers: { 'Retry-After': { schema: { type: 'integer' }, description: 'Seconds to wait' } } } : {}),
  }]));
}

/** What every authenticated route of /api/v1 may answer before its handler runs (authentication, bodies). */
export const AUTHENTICATED = [401, 429] as const;
/** What a route that reads a JSON body may answer besides (malformed, too large, not JSON, invalid). */
export const WITH_BODY = [400, 413, 415, 422] as const;

/** A JSON request body described (and validated, `required`) from its zod schema. */
export function jsonBody<T extends z.ZodType>(schema: T) {
  return { required: true, content: { 'application/json': { schema } } } as const;
}

/**
 * A route of the Bearer-authenticated API: the permission (checked by the route's middleware and written into its
 * description) and the bearer security requirement. `checkedElsewhere` documents a permission checked by the router for
 * all its routes, or by the use case itself (deletion decisions record refusals).
 */
export function guarded(permissions: Parameters<typeof requireAnyPermission> | [], opts: { checkedElsewhere?: boolean } = {}) {
  const middleware: MiddlewareHandler<AuthEnv>[] = permissions.length && !opts.checkedElsewhere ? [requireAnyPermission(...permissions)] : [];
  return {
    security: [{ bearer: [] }],
    ...(permissions.length ? { description: `Requires the \`${permissions.join('` or `')}\` permission.` } : {}),
    ...(middleware.length ? { middleware } : {}),
  };
}

export { createRoute, type RouteConfig };

export const API_INFO = {
  openapi: '3.1.0',
  info: { title: 'proxbox-intent', version: SERVICE_VERSION, description: 'Turns merged NetBox branches into Proxmox changes, durably, on Temporal.' },
};

const PROBLEM_SCHEMA = {
  type: 'object' as const, required: ['type', 'title', 'status', 'detail', 'code'],
  properties: {
    type: { type: 'string' as const }, title: { type: 'string' as const }, status: { type: 'integer' as const }, detail: { type: 'string' as const },
    code: { type: 'string' as const },
    errors: { type: 'array' as const, items: { type: 'object' as const, properties: { path: { type: 'string' as const }, message: { type: 'string' as const } } } },
  },
};

/** The components every document needs; register them on the app before it is served. */
export function registerComponents<E extends Env>(app: OpenAPIHono<E>): void {
  app.openAPIRegistry.registerComponent('securitySchemes', 'bearer', { type: 'http', scheme: 'bearer' });
  app.openAPIRegistry.registerComponent('schemas', 'Problem', PROBLEM_SCHEMA);
}

type Document = ReturnType<OpenAPIHono['getOpenAPI31Document']>;

/** The OpenAPI 3.1 document of an app, generated from its routes' declarations. */
export function openApiDocument<E extends Env>(app: OpenAPIHono<E>): Document {
  return app.getOpenAPI31Document(API_INFO);
}

export function docsPage(doc: Document): string {
  const rows = Object.entries(doc.paths ?? {}).flatMap(([path, ops]) => Object.entries(ops as Record<string, unknown>).map(([m, op]) => {
    const o = op as { summary?: string; description?: string };
    return `<tr><td><code>${m.toUpperCase()}</code></td><td><code>${path}</code></td><td>${o.summary ?? ''}</td><td>${o.description ?? ''}</td></tr>`;
  }));
  return `<!doctype html><html><head><meta charset="utf-8"><title>proxbox-intent API</title>
<style>body{font-family:system-ui,sans-serif;margin:2rem}table{border-collapse:collapse}td{border-bottom:1px solid #ddd;padding:.3rem .6rem}</style></head>
<body><h1>proxbox-intent API</h1><p>Machine-readable: <a href="/openapi.json">/openapi.json</a>. Errors are <code>application/problem+json</code>.</p>
<table>${rows.join('')}</table></body></html>`;
}
