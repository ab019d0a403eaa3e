import { ROOT_CONTEXT, context, trace, type SpanContext } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REDACTED, isSecretKey, redactDeep, withoutSecrets } from '../../domain/secret-text';
import { configureLogging, createLogger, neverLog, scrubLine, temporalLogger } from '../../infra/logger';

/** A logger writing into an array, one parsed object per line. */
function capture(level: 'debug' | 'info' = 'debug') {
  const raw: string[] = [];
  const log = createLogger({ level, destination: { write: (line: string) => { raw.push(line); } } });
  return { log, raw, lines: () => raw.map((l) => JSON.parse(l) as Record<string, unknown>) };
}

describe('withoutSecrets and redactDeep (domain/secret-text.ts)', () => {
  it('masks credentials in free text: bearer and NetBox tokens, key=value pairs, cloud-init password lines', () => {
    expect(withoutSecrets('Authorization: Bearer abcdef123456 done')).toBe(`Authorization: Bearer ${REDACTED} done`);
    expect(withoutSecrets('key nbt_abc.def used')).toBe(`key ${REDACTED} used`);
    expect(withoutSecrets('cipassword=s3cret token=xyz api_key: k-123 X-Proxbox-API-Key: sim-key'))
      .toBe(`cipassword=${REDACTED} token=${REDACTED} api_key: ${REDACTED} X-Proxbox-API-Key: ${REDACTED}`);
    expect(withoutSecrets('#cloud-config\nusers:\n  - name: ops\n    password: two words\n'))
      .toBe(`#cloud-config\nusers:\n  - name: ops\n    password: ${REDACTED}\n`);
    expect(withoutSecrets('create qemu 312 web-03 on pve01: succeeded')).toBe('create qemu 312 web-03 on pve01: succeeded');
  });

  it('knows secret keys however they are spelled', () => {
    for (const k of ['apiKey', 'api_key', 'X-Proxbox-API-Key', 'token', 'NETBOX_TOKEN', 'cipassword', 'password', 'user_data', 'authorization', 'webhookSecret', 'taskToken']) {
      expect(isSecretKey(k), k).toBe(true);
    }
    for (const k of ['vmid', 'jobId', 'workflowId', 'runId', 'tokenId', 'name', 'status']) expect(isSecretKey(k), k).toBe(false);
  });

  it('replaces values under secret keys at any depth and scrubs every string, errors and cycles included', () => {
    const cyclic: Record<string, unknown> = { name: 'x' };
    cyclic.self = cyclic;
    expect(redactDeep({
      vmid: 312, payload: { cloud_init: { user: 'ops', password: 'pw-1', user_data: '#cloud-config' } }, headers: { 'X-Proxbox-API-Key': 'k' },
      list: [{ token: 't' }, 'Bearer abcdefghij'], err: new Error('failed with password=hunter2'), cyclic,
    })).toEqual({
      vmid: 312, payload: { cloud_init: { user: 'ops', password: REDACTED, user_data: REDACTED } }, headers: { 'X-Proxbox-API-Key': REDACTED },
      list: [{ token: REDACTED }, `Bearer ${REDACTED}`], err: { type: 'Error', message: `failed with password=${REDACTED}` },
      cyclic: { name: 'x', self: '[circular]' },
    });
  });
});

describe('the logger (infra/logger.ts)', () => {
  it('writes JSON lines with the level as a word, an ISO time and the message', () => {
    const { log, lines } = capture();
    log.info({ jobId: 'j-1', vmid: 312 }, 'create qemu 312 web-03: succeeded');
    expect(lines()).toEqual([expect.objectContaining({ level: 'info', msg: 'create qemu 312 web-03: succeeded', jobId: 'j-1', vmid: 312, time: expect.stringMatching(/^\d{4}-\d\d-\d\dT/) })]);
  });

  it('scrubs secrets by itself: keys, messages, interpolated arguments, errors and child bindings', () => {
    const { log, raw } = capture();
    log.info({ apiKey: 'key-aaaa', payload: { cloud_init: { password: 'pw-bbbb' } }, headers: { authorization: 'Token tok-cccc' } }, 'one');
    log.warn('proxbox-api said cipassword=pw-dddd for %s', 'Bearer tok-eeeeee');
    log.error(new Error('NetBox refused Token nbt_fff.ggg'));
    log.error({ err: new Error('password: pw-hhhh') }, 'failed');
    log.child({ token: 'tok-iiii', vmid: 5 }).info('child line');
    const text = raw.join('');
    for (const secret of ['key-aaaa', 'pw-bbbb', 'tok-cccc', 'pw-dddd', 'tok-eeeeee', 'nbt_fff', 'pw-hhhh', 'tok-iiii']) expect(text).not.toContain(secret);
    expect(raw).toHaveLength(5);
    expect(JSON.parse(raw[2]!)).toMatchObject({ level: 'error', msg: `NetBox refused Token ${REDACTED}`, err: { type: 'Error' } });
    expect(JSON.parse(raw[4]!)).toMatchObject({ vmid: 5, token: REDACTED, msg: 'child line' });
  });

  it('logs a failed query as the driver\'s sentence, never drizzle\'s SQL and parameters', () => {
    const { log, raw } = capture();
    const failed = new Error('Failed query: update "api_tokens" set "last_used_at" = $1 where "token_hash" = $2\nparams: 2026-12-07,0174d8ecd334fb95', {
      cause: new Error('terminating connection due to administrator command'),
    });
    log.error(failed);
    log.error({ err: failed }, 'unhandled error in API request');
    const text = raw.join('');
    expect(text).not.toContain('0174d8ecd334fb95');
    expect(text).not.toContain('api_tokens');
    expect(JSON.parse(raw[0]!)).toMatchObject({ msg: 'database error: terminating connection due to administrator command' });
    expect(JSON.parse(raw[1]!)).toMatchObject({ err: { message: 'database error: terminating connection due to administrator command' } });
  });

  it('never writes a secret the process holds, wherever it turns up', () => {
    neverLog('plain-literal-secret-42', 'short');
    const { log, raw } = capture();
    log.info({ note: 'the key is plain-literal-secret-42' }, 'and again plain-literal-secret-42');
    expect(raw.join('')).not.toContain('plain-literal-secret-42');
    expect(scrubLine('short stays')).toBe('short stays');
  });

  describe('inside a span', () => {
    const manager = new AsyncLocalStorageContextManager();
    beforeAll(() => { context.setGlobalContextManager(manager.enable()); });
    afterAll(() => { context.disable(); });

    it('names the trace and span a line was written in', () => {
      const { log, lines } = capture();
      const span: SpanContext = { traceId: '0af7651916cd43dd8448eb211c80319c', spanId: 'b7ad6b7169203331', traceFlags: 1 };
      context.with(trace.setSpanContext(ROOT_CONTEXT, span), () => log.info('inside'));
      log.info('outside');
      expect(lines()[0]).toMatchObject({ trace_id: span.traceId, span_id: span.spanId });
      expect(lines()[1]).not.toHaveProperty('trace_id');
    });
  });

  it('writes the Temporal SDK\'s lines: runId for the run, no task token, the SDK\'s own chatter at debug, nothing below the floor', () => {
    const raw: string[] = [];
    configureLogging({ level: 'debug', destination: { write: (line: string) => { raw.push(line); } } });
    const sdk = temporalLogger('debug');
    sdk.info('create qemu 312', { sdkComponent: 'activity', workflowId: 'apply:x:1', workflowRunId: 'r-1', taskToken: 'dGFzaw==', jobId: 'j', vmid: 312 });
    sdk.info('Worker state changed', { sdkComponent: 'worker', state: 'RUNNING' });
    temporalLogger('error').warn('dropped below the floor', { sdkComponent: 'activity' });
    const lines = raw.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatchObject({ level: 'info', msg: 'create qemu 312', workflowId: 'apply:x:1', runId: 'r-1', jobId: 'j', vmid: 312 });
    expect(lines[0]).not.toHaveProperty('taskToken');
    expect(lines[1]).toMatchObject({ level: 'debug', msg: 'Worker state changed' });
    configureLogging({ level: 'info' });
  });
});
