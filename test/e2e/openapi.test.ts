import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client, Connection } from '@temporalio/client';
import { Validator } from '@seriousme/openapi-schema-validator';
import { createApp } from '../../api/app';
import { ApplyEventHub } from '../../api/event-hub';
import { NetboxClient } from '../../clients/netbox';
import { ApplyJobStore } from '../../db/apply-jobs';
import { openDatabase, type Database } from '../../db/client';
import { DEFAULT_BACKEND_URL_POLICY } from '../../domain/backend-url';
import { SecretBox } from '../../domain/secret-box';
import { ApplyStarter } from '../../services/apply-starter';
import { UserStore } from '../../db/users';
import { createFreshDatabase } from '../support/database';

type Operation = { responses: Record<string, unknown>; requestBody?: { content: Record<string, { schema: { properties?: Record<string, unknown> } }> }; parameters?: { name: string; in: string }[]; description?: string };
type Document = { openapi: string; paths: Record<string, Record<string, Operation>> };

/**
 * The API document is generated from the routes (their declarations and zod schemas): it is a valid OpenAPI 3.1
 * document, every route the app serves is in it, and each operation lists the answers it can give.
 */
describe('the OpenAPI document', () => {
  let fresh: Awaited<ReturnType<typeof createFreshDatabase>>;
  let database: Database;
  let app: ReturnType<typeof createApp>['app'];
  let doc: Document;

  beforeAll(async () => {
    fresh = await createFreshDatabase('openapi');
    database = await openDatabase({ url: fresh.url });
    // Nothing here calls Temporal or NetBox: the app is only asked for its routes and its document.
    const temporal = new Client({ connection: Connection.lazy({ address: '127.0.0.1:1' }) });
    const jobs = new ApplyJobStore(database.db);
    const netbox = new NetboxClient({ baseUrl: 'http://127.0.0.1:1', token: 'unused' });
    ({ app } = createApp({
      database, temporal,
      starter: new ApplyStarter({ netbox, jobs, temporal, taskQueue: 'openapi', maxConcurrency: 1, lookbackHours: 24 }),
      hub: new ApplyEventHub((jobId, afterId) => jobs.eventsAfter(jobId, afterId)),
      links: { uiUrl: 'http://127.0.0.1:8233', namespace: 'default' },
      webhookSecret: 'openapi-webhook-secret', approvalSecret: 'openapi-approval-secret-0123456789',
      secrets: SecretBox.fromBase64(Buffer.alloc(32, 3).toString('base64')), backendUrlPolicy: DEFAULT_BACKEND_URL_POLICY,
      netbox: { baseUrl: 'http://127.0.0.1:1', token: 'unused' },
      status: { taskQueue: 'openapi', netbox: null, readyzRequiresWorker: false },
    }));
    const res = await app.request('/openapi.json');
    expect(res.status).toBe(200);
    doc = await res.json() as Document;
  });

  afterAll(async () => {
    await database?.close();
    await fresh?.drop();
  });

  it('is a valid OpenAPI 3.1 document', async () => {
    expect(doc.openapi).toBe('3.1.0');
    const result = await new Validator().validate(doc as never);
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
  });

  it('documents every route the app serves, and nothing it does not', () => {
    // The operator pages (/ui) are HTML for browsers, not API operations: docs/api.md "Operator pages" describes them.
    const served = new Set(app.routes.filter((r) => r.method !== 'ALL' && !/^\/ui(\/|$)/.test(r.path))
      .map((r) => `${r.method.toLowerCase()} ${r.path.replace(/:(\w+)/g, '{$1}')}`));
    const documented = new Set(Object.entries(doc.paths).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m} ${path}`)));
    expect(served.size).toBeGreaterThan(30);
    expect([...served].filter((r) => !documented.has(r))).toEqual([]);
    expect([...documented].filter((r) => !served.has(r))).toEqual([]);
  });

  it('lists the answers of each operation and the schemas of its input', () => {
    const op = (method: string, path: string) => doc.paths[path]![method]!;
    const statuses = (method: string, path: string) => Object.keys(op(method, path).responses);
    expect(statuses('post', '/api/v1/apply-jobs')).toEqual(expect.arrayContaining(['200', '202', '400', '401', '403', '404', '409', '413', '422', '429']));
    expect(statuses('post', '/api/v1/apply-jobs/{id}/cancel')).toEqual(expect.arrayContaining(['200', '202', '404', '409']));
    expect(statuses('post', '/api/v1/deletion-requests/{id}/approve')).toEqual(expect.arrayContaining(['200', '403', '404', '409', '422']));
    expect(statuses('post', '/api/v1/deletion-requests/{id}/confirm-destroyed')).toEqual(expect.arrayContaining(['200', '403', '404', '409', '422', '503']));
    expect(Object.keys(op('post', '/api/v1/deletion-requests/{id}/confirm-destroyed').requestBody!.content['application/json']!.schema.properties!)).toEqual(['vmid']);
    expect(op('post', '/api/v1/deletion-requests/{id}/confirm-destroyed').description).toContain('authorize_deletion_request');
    expect(statuses('post', '/api/v1/branches/{branchId}/plan')).toEqual(expect.arrayContaining(['200', '404', '429']));
    expect(statuses('post', '/api/v1/hooks/netbox')).toEqual(expect.arrayContaining(['202', '401', '409', '413']));
    // Bodies and parameters come from the zod schemas the routes validate with.
    expect(Object.keys(op('post', '/api/v1/deletion-requests/{id}/approve').requestBody!.content['application/json']!.schema.properties!)).toEqual(['vmid']);
    expect(Object.keys(op('post', '/api/v1/apply-jobs').requestBody!.content['application/json']!.schema.properties!)).toEqual(['branchId', 'reapplyConfirmation']);
    expect(op('post', '/api/v1/branches/{branchId}/plan').requestBody).toBeDefined();
    expect(op('get', '/api/v1/deletion-requests').parameters!.map((p) => `${p.in}:${p.name}`)).toEqual(expect.arrayContaining(['query:state', 'query:vmid', 'query:cursor']));
    expect(op('get', '/api/v1/apply-jobs/{id}').parameters!.map((p) => `${p.in}:${p.name}`)).toEqual(['path:id']);
  });

  it('answers a declared body of another media type with the API\'s own 415 problem, empty or not', async () => {
    const users = new UserStore(database.db);
    await users.create('admin', ['view', 'trigger_apply']);
    const { token } = (await users.createToken('admin'))!;
    for (const body of ['', 'branchId=1']) {
      const res = await app.request('/api/v1/apply-jobs', { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'text/plain' }, body });
      expect(res.status, JSON.stringify(body)).toBe(415);
      expect(res.headers.get('content-type')).toBe('application/problem+json');
      expect(await res.json()).toMatchObject({ status: 415, code: 'unsupported_media_type' });
    }
  });
});
