import type { Database } from '../db/client';
import { APPLY_EVENTS_CHANNEL } from '../db/apply-jobs';

type Listener = (eventId: number) => void;

/**
 * Fans PostgreSQL NOTIFY apply_events out to the SSE streams of this API process. One LISTEN connection per
 * process; the events themselves live in PostgreSQL, so any API process can serve any job's stream.
 */
export class ApplyEventHub {
  private readonly listeners = new Map<string, Set<Listener>>();
  private stop: (() => Promise<void>) | null = null;
  private ending = false;

  /** The process is shutting down: streams end (clients resume elsewhere with Last-Event-ID) instead of waiting. */
  get draining(): boolean {
    return this.ending;
  }

  /** Wakes every stream so it sees `draining` and ends; called before the server waits for requests in flight. */
  drain(): void {
    this.ending = true;
    for (const set of this.listeners.values()) for (const l of set) l(0);
  }

  async start(db: Database): Promise<void> {
    this.stop = await db.listen(APPLY_EVENTS_CHANNEL, (payload) => {
      const [jobId, id] = payload.split(':');
      if (!jobId || !id) return;
      for (const l of this.listeners.get(jobId) ?? []) l(Number(id));
    });
  }

  subscribe(jobId: string, listener: Listener): () => void {
    const set = this.listeners.get(jobId) ?? new Set();
    set.add(listener);
    this.listeners.set(jobId, set);
    return () => {
      set.delete(listener);
      if (set.size === 0) this.listeners.delete(jobId);
    };
  }

  async close(): Promise<void> {
    await this.stop?.();
  }
}
