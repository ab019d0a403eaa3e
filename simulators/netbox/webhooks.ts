import { signWebhookBody } from '../../domain/webhook-signature';
import { pythonJsonDumps } from './pyjson';

export interface WebhookTargetInput {
  url: string;
  /** When set, deliveries carry `X-Hook-Signature`. */
  secret?: string;
  additionalHeaders?: Record<string, string>;
  /** The recommended event-rule condition: fire only when the branch's `apply_to_proxmox` is true. */
  onlyOptedIn?: boolean;
  /** Event-rule "action data", merged into `data` as NetBox does. */
  actionData?: Record<string, unknown>;
}
export interface WebhookTarget extends WebhookTargetInput { id: number }

export type DeliveryOutcome = 'delivered' | 'failed' | 'dropped' | 'queued';

export interface WebhookDelivery {
  id: number;
  targetId: number | null;
  url: string;
  branchId: number | null;
  event: string | null;
  /** The exact raw body, as signed. */
  body: string;
  headers: Record<string, string>;
  signature: string | null;
  outcome: DeliveryOutcome;
  /** HTTP status of the receiver's answer; null when nothing was sent or no answer came. */
  status: number | null;
  responseBody: string | null;
  error: string | null;
  /** True for the second copy of a duplicated delivery. */
  duplicate: boolean;
  at: number;
}

export interface SendOptions {
  /** Overrides the signature: a string is sent as is, null sends none. Default: signed with the target's secret. */
  signature?: string | null;
  headers?: Record<string, string>;
}

/** Delivers event-rule webhooks the way NetBox's RQ webhook job does: once, with no retry, unless told otherwise. */
export class WebhookDispatcher {
  readonly targets: WebhookTarget[] = [];
  readonly deliveries: WebhookDelivery[] = [];
  private seq = 0;
  private targetSeq = 0;
  private dropCount = 0;
  private duplicateCount = 0;
  private paused = false;
  private queue: Array<{ delivery: WebhookDelivery; copies: number }> = [];

  constructor(private readonly timeoutMs = 10_000) {}

  reset(): void {
    this.targets.length = 0;
    this.deliveries.length = 0;
    this.dropCount = 0;
    this.duplicateCount = 0;
    this.paused = false;
    this.queue = [];
  }

  addTarget(input: WebhookTargetInput): WebhookTarget {
    const target: WebhookTarget = { ...input, id: ++this.targetSeq };
    this.targets.push(target);
    return target;
  }

  removeTarget(id: number): boolean {
    const i = this.targets.findIndex((t) => t.id === id);
    if (i < 0) return false;
    this.targets.splice(i, 1);
    return true;
  }

  /** The next n deliveries are lost: never sent (at-most-once delivery). */
  dropNext(n: number): void {
    this.dropCount += n;
  }

  /** The next n deliveries are sent twice (a job re-queued by hand). */
  duplicateNext(n: number): void {
    this.duplicateCount += n;
  }

  /** Holds deliveries back, as when the RQ worker is down. */
  pause(): void {
    this.paused = true;
  }

  /** Sends every held delivery, in order, and returns them. */
  async resume(): Promise<WebhookDelivery[]> {
    this.paused = false;
    const held = this.queue;
    this.queue = [];
    const out: WebhookDelivery[] = [];
    for (const item of held) out.push(...(await this.transmit(item.delivery, item.copies)));
    return out;
  }

  get pending(): number {
    return this.queue.length;
  }

  /** Fires one event at every target; `bodyFor` builds the context for a target (null: the rule does not match). */
  async emit(branchId: number, event: string, bodyFor: (target: WebhookTarget) => Record<string, unknown> | null): Promise<WebhookDelivery[]> {
    const out: WebhookDelivery[] = [];
    for (const target of [...this.targets]) {
      const context = bodyFor(target);
      if (!context) continue;
      const delivery = this.prepare(target, pythonJsonDumps(context), {}, branchId, event);
      if (this.dropCount > 0) {
        this.dropCount -= 1;
        delivery.outcome = 'dropped';
        out.push(delivery);
        continue;
      }
      let copies = 1;
      if (this.duplicateCount > 0) { this.duplicateCount -= 1; copies = 2; }
      if (this.paused) {
        delivery.outcome = 'queued';
        this.queue.push({ delivery, copies });
        out.push(delivery);
        continue;
      }
      out.push(...(await this.transmit(delivery, copies)));
    }
    return out;
  }

  /** Sends an arbitrary body (an object is serialised like Python's json.dumps) to a target, ignoring drop and duplicate controls. */
  async send(target: WebhookTargetInput, body: string | Record<string, unknown>, opts: SendOptions = {}): Promise<WebhookDelivery> {
    const raw = typeof body === 'string' ? body : pythonJsonDumps(body);
    const event = typeof body === 'string' ? null : typeof body.event === 'string' ? body.event : null;
    const delivery = this.prepare({ ...target, id: 0 }, raw, opts, null, event);
    delivery.targetId = null;
    const [sent] = await this.transmit(delivery, 1);
    return sent!;
  }

  private prepare(target: WebhookTarget, raw: string, opts: SendOptions, branchId: number | null, event: string | null): WebhookDelivery {
    const signature = opts.signature !== undefined ? opts.signature : target.secret ? signWebhookBody(target.secret, raw) : null;
    const headers: Record<string, string> = { 'Content-Type': 'application/json', ...target.additionalHeaders, ...opts.headers };
    if (signature !== null) headers['X-Hook-Signature'] = signature;
    const delivery: WebhookDelivery = {
      id: ++this.seq, targetId: target.id, url: target.url, branchId, event, body: raw, headers, signature,
      outcome: 'queued', status: null, responseBody: null, error: null, duplicate: false, at: Date.now(),
    };
    this.deliveries.push(delivery);
    return delivery;
  }

  private async transmit(first: WebhookDelivery, copies: number): Promise<WebhookDelivery[]> {
    const out = [first];
    await this.post(first);
    for (let i = 1; i < copies; i++) {
      const copy: WebhookDelivery = { ...first, id: ++this.seq, duplicate: true, at: Date.now(), status: null, responseBody: null, error: null };
      this.deliveries.push(copy);
      await this.post(copy);
      out.push(copy);
    }
    return out;
  }

  private async post(delivery: WebhookDelivery): Promise<void> {
    delivery.at = Date.now();
    try {
      const res = await fetch(delivery.url, {
        method: 'POST', headers: delivery.headers, body: delivery.body, signal: AbortSignal.timeout(this.timeoutMs),
      });
      delivery.status = res.status;
      delivery.responseBody = await res.text();
      delivery.outcome = res.ok ? 'delivered' : 'failed';
    } catch (err) {
      delivery.outcome = 'failed';
      delivery.error = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
    }
  }
}
