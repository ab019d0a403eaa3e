import { callDeadline, readCapped } from './http';

/** Receivers answer with a few bytes; more is read no further. */
const MAX_ANSWER_BYTES = 64 * 1024;
export const NOTIFICATION_TIMEOUT_MS = 10_000;

/** One POST's outcome: the receiver's status (a redirect is reported, never followed). Its answer is read and dropped. */
export interface SendResult { status: number }

export class NotificationSendError extends Error {}

/**
 * POSTs a notification body. Redirects are not followed (a destination is the URL an operator configured, nothing it
 * points elsewhere); the whole call, body included, is bounded by `timeoutMs`. Network failures throw
 * NotificationSendError with what happened, never the URL (it may be a secret: a Slack webhook).
 */
export async function sendNotification(url: string, body: string, headers: Record<string, string>,
  opts: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<SendResult> {
  const deadline = callDeadline(opts.timeoutMs ?? NOTIFICATION_TIMEOUT_MS, opts.signal);
  try {
    const res = await fetch(url, {
      method: 'POST', redirect: 'manual', body, signal: deadline.signal,
      headers: { 'content-type': 'application/json', 'user-agent': 'proxbox-intent-notifications', ...headers },
    });
    await readCapped(res, MAX_ANSWER_BYTES, deadline.signal).catch(() => '');
    return { status: res.status };
  } catch (err) {
    if (deadline.expired()) throw new NotificationSendError(`no answer within ${Math.round((opts.timeoutMs ?? NOTIFICATION_TIMEOUT_MS) / 1000)} s`);
    if (deadline.cancelled()) throw new NotificationSendError('cancelled');
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    throw new NotificationSendError(`unreachable (${cause?.code ?? cause?.message ?? (err instanceof Error ? err.message : String(err))})`);
  }
}
