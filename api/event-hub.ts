import type { Database } from '../db/client';
import { APPLY_EVENTS_CHANNEL, type ApplyEventRow } from '../db/apply-jobs';

/** Reads a job's events after an id (ApplyJobStore.eventsAfter). */
export type EventReader = (jobId: string, afterId: number) => Promise<ApplyEventRow[]>;

/** One SSE stream's view of a job's live log. */
export interface EventSubscription {
  /** The events this subscriber has not had yet; waits until there are some. Empty once closed. */
  next(): Promise<ApplyEventRow[]>;
  close(): void;
}

interface Subscriber {
  /** The last event id handed to this subscriber. */
  delivered: number;
  queue: ApplyEventRow[];
  failure: unknown;
  closed: boolean;
  wake: (() => void) | null;
}

interface JobFeed { subscribers: Set<Subscriber>; reading: boolean; again: boolean }

/**
 * Fans PostgreSQL NOTIFY apply_events out to the SSE streams of this API process. One LISTEN connection per process,
 * and per job one reader shared by all of that job's streams: a NOTIFY costs one query however many people watch
 * (each stream takes what is newer than what it already had, so streams resumed at different points share it too).
 * The events live in PostgreSQL, so any API process can serve any job's stream.
 */
export class ApplyEventHub {
  private readonly feeds = new Map<string, JobFeed>();
  private stop: (() => Promise<void>) | null = null;
  private ending = false;

  /** The process is shutting down: streams end (clients resume elsewhere with Last-Event-ID) instead of waiting. */
  get draining(): boolean {
    return this.ending;
  }

  /** Wakes every stream so it sees `draining` and ends; called before the server waits for requests in flight. */
  drain(): void {
    this.ending = true;
    for (const feed of this.feeds.values()) {
      for (const sub of feed.subscribers) {
        sub.closed = true;
        wake(sub);
      }
    }
  }

  constructor(private readonly read: EventReader) {}

  async start(db: Database): Promise<void> {
    this.stop = await db.listen(APPLY_EVENTS_CHANNEL, (payload) => {
      const [jobId, id] = payload.split(':');
      if (jobId && id) this.refresh(jobId);
    });
  }

  /** Subscribes to a job's events after `afterId` (Last-Event-ID); the backlog arrives first. */
  subscribe(jobId: string, afterId: number): EventSubscription {
    let feed = this.feeds.get(jobId);
    if (!feed) {
      feed = { subscribers: new Set(), reading: false, again: false };
      this.feeds.set(jobId, feed);
    }
    const sub: Subscriber = { delivered: afterId, queue: [], failure: null, closed: this.ending, wake: null };
    feed.subscribers.add(sub);
    this.refresh(jobId);
    const ownFeed = feed;
    return {
      next: async () => {
        while (sub.queue.length === 0 && !sub.closed && sub.failure === null) await new Promise<void>((r) => { sub.wake = r; });
        if (sub.failure !== null) throw sub.failure;
        const out = sub.closed ? [] : sub.queue;
        sub.queue = [];
        return out;
      },
      close: () => {
        if (sub.closed) return;
        sub.closed = true;
        ownFeed.subscribers.delete(sub);
        if (ownFeed.subscribers.size === 0 && this.feeds.get(jobId) === ownFeed) this.feeds.delete(jobId);
        wake(sub);
      },
    };
  }

  /** Reads what is new for the job once for all its subscribers; a notification during a read asks for one more. */
  private refresh(jobId: string): void {
    const feed = this.feeds.get(jobId);
    if (!feed) return;
    if (feed.reading) {
      feed.again = true;
      return;
    }
    feed.reading = true;
    void (async () => {
      try {
        do {
          feed.again = false;
          if (feed.subscribers.size === 0) break;
          const rows = await this.read(jobId, Math.min(...[...feed.subscribers].map((s) => s.delivered)));
          for (const sub of feed.subscribers) {
            const fresh = rows.filter((r) => r.id > sub.delivered);
            if (fresh.length === 0) continue;
            sub.queue.push(...fresh);
            sub.delivered = fresh.at(-1)!.id;
            wake(sub);
          }
        } while (feed.again);
      } catch (err) {
        for (const sub of feed.subscribers) { sub.failure = err; wake(sub); }
      } finally {
        feed.reading = false;
      }
    })();
  }

  async close(): Promise<void> {
    await this.stop?.();
  }
}

function wake(sub: Subscriber): void {
  const w = sub.wake;
  sub.wake = null;
  w?.();
}
