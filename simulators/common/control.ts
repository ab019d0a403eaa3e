import type { Context, MiddlewareHandler } from 'hono';
import { Hono } from 'hono';
import { z } from 'zod';

/** One HTTP request a simulator received, as tests see it in the call log. */
export interface RecordedCall {
  seq: number;
  at: number;
  method: string;
  path: string;
  query: Record<string, string>;
  headers: Record<string, string>;
  body: unknown;
  status: number | null;
}

/**
 * A fault rule: requests whose method and path match are failed, slowed down, dropped or trickled.
 * `phase: 'after'` lets the request take effect first and then fails the response,
 * which is how an "unknown outcome" looks to a client. `trickle` always lets the request take effect, sends the
 * headers at once and then the real body one byte every `delayMs` (a peer that answers and then stalls).
 */
export const FaultRule = z.object({
  method: z.string().toUpperCase().optional(),
  path: z.string().min(1).describe('a regular expression matched against the path'),
  mode: z.enum(['fail', 'slow', 'drop', 'trickle']),
  phase: z.enum(['before', 'after']).default('before'),
  status: z.number().int().min(100).max(599).default(500),
  body: z.unknown().optional(),
  delayMs: z.number().int().min(0).max(600_000).default(0),
  times: z.number().int().min(1).optional().describe('how many matching requests it affects; unlimited when absent'),
  probability: z.number().min(0).max(1).optional()
    .describe('the share of matching requests it affects, drawn at random per request (a request it spares goes on to the next rule); every one when absent'),
});
export type FaultRule = z.infer<typeof FaultRule>;
export type FaultRuleInput = z.input<typeof FaultRule>;

interface ActiveFault { rule: FaultRule; pattern: RegExp; remaining: number }

/** The call log and the fault rules of one simulator instance. */
export class SimulatorControl {
  readonly calls: RecordedCall[] = [];
  /** Trickled answers (fault mode `trickle`) whose body is still being sent to a client that is still reading. */
  trickling = 0;
  private faults: ActiveFault[] = [];
  private seq = 0;

  addFault(input: FaultRuleInput): void {
    const rule = FaultRule.parse(input);
    this.faults.push({ rule, pattern: new RegExp(rule.path), remaining: rule.times ?? Number.POSITIVE_INFINITY });
  }

  clearFaults(): void {
    this.faults = [];
  }

  clearCalls(): void {
    this.calls.length = 0;
  }

  /** Calls matching a method and a path pattern, in arrival order. */
  callsTo(method: string, path: string | RegExp): RecordedCall[] {
    const pattern = typeof path === 'string' ? new RegExp(`^${path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`) : path;
    return this.calls.filter((c) => c.method === method.toUpperCase() && pattern.test(c.path));
  }

  takeFault(method: string, path: string): FaultRule | undefined {
    const hit = this.faults.find((f) => f.remaining > 0 && (!f.rule.method || f.rule.method === method) && f.pattern.test(path)
      && (f.rule.probability === undefined || Math.random() < f.rule.probability));
    if (!hit) return undefined;
    hit.remaining -= 1;
    return hit.rule;
  }

  record(call: Omit<RecordedCall, 'seq' | 'at' | 'status'>): RecordedCall {
    const recorded: RecordedCall = { ...call, seq: ++this.seq, at: Date.now(), status: null };
    this.calls.push(recorded);
    return recorded;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function dropConnection(c: Context): Response {
  const incoming = (c.env as { incoming?: { socket?: { destroy(): void } } } | undefined)?.incoming;
  incoming?.socket?.destroy();
  return new Response(null, { status: 599 });
}

/** The same answer, its body sent one byte every `everyMs`; `control.trickling` counts the bodies still being sent. */
function trickled(res: Response, everyMs: number, control: SimulatorControl): Response {
  const body = res.arrayBuffer().then((b) => new Uint8Array(b));
  let sent = 0;
  control.trickling += 1;
  let done = false;
  const finish = () => { if (!done) { done = true; control.trickling -= 1; } };
  const stream = new ReadableStream<Uint8Array>({
    async pull(ctrl) {
      const bytes = await body;
      await sleep(everyMs);
      if (done) return;
      if (sent >= bytes.length) { finish(); ctrl.close(); return; }
      ctrl.enqueue(bytes.subarray(sent, sent + 1));
      sent += 1;
    },
    cancel: finish,
  });
  const headers = new Headers(res.headers);
  headers.delete('content-length');
  return new Response(stream, { status: res.status, headers });
}

function faultResponse(c: Context, rule: FaultRule): Response {
  const body = rule.body ?? { detail: `simulated failure (${rule.status})` };
  return c.json(body as object, rule.status as 500);
}

/** Records every request (except the control routes) and applies the matching fault rule. */
export function recordAndInjectFaults(control: SimulatorControl): MiddlewareHandler {
  return async (c, next) => {
    const url = new URL(c.req.url);
    if (url.pathname.startsWith('/_sim/')) return next();
    let body: unknown = null;
    // Hono caches the text, so the handler's own c.req.json() reads it again without cloning the stream.
    const raw = c.req.raw.body ? await c.req.text() : '';
    if (raw) {
      try { body = JSON.parse(raw); } catch { body = raw; }
    }
    const call = control.record({
      method: c.req.method,
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      headers: Object.fromEntries(c.req.raw.headers),
      body,
    });
    const rule = control.takeFault(c.req.method, url.pathname);
    if (rule?.mode === 'slow') await sleep(rule.delayMs);
    if (rule?.mode === 'trickle') {
      await next();
      call.status = c.res.status;
      c.res = trickled(c.res, rule.delayMs, control);
      return;
    }
    if (rule && rule.phase === 'before') {
      if (rule.mode === 'drop') return dropConnection(c);
      if (rule.mode === 'fail') { call.status = rule.status; return faultResponse(c, rule); }
    }
    await next();
    call.status = c.res.status;
    if (rule && rule.phase === 'after') {
      if (rule.mode === 'drop') { c.res = dropConnection(c); return; }
      if (rule.mode === 'fail') { call.status = rule.status; c.res = faultResponse(c, rule); }
    }
  };
}

/** `/_sim/*` routes shared by every simulator: read and clear the call log, set and clear faults. */
export function controlRoutes(control: SimulatorControl, reset: () => void): Hono {
  const app = new Hono();
  app.get('/calls', (c) => c.json(control.calls));
  app.delete('/calls', (c) => { control.clearCalls(); return c.body(null, 204); });
  app.post('/faults', async (c) => {
    const parsed = FaultRule.safeParse(await c.req.json().catch(() => null));
    if (!parsed.success) return c.json({ error: z.prettifyError(parsed.error) }, 400);
    control.addFault(parsed.data);
    return c.body(null, 204);
  });
  app.delete('/faults', (c) => { control.clearFaults(); return c.body(null, 204); });
  app.post('/reset', (c) => { control.clearFaults(); control.clearCalls(); reset(); return c.body(null, 204); });
  return app;
}
