/** A loopback HTTP endpoint that records what it receives, for checking webhook deliveries in tests. */
import { Hono } from 'hono';
import { serveHttp } from '../../infra/http-server';

export interface ReceivedRequest { method: string; path: string; headers: Record<string, string>; rawBody: string; at: number }

export interface CaptureReceiver {
  url: string;
  received: ReceivedRequest[];
  /** Status for the next answers (default 200). */
  respondWith(status: number): void;
  close(): Promise<void>;
}

export async function startCaptureReceiver(status = 200): Promise<CaptureReceiver> {
  const received: ReceivedRequest[] = [];
  let answer = status;
  const app = new Hono();
  app.all('*', async (c) => {
    received.push({
      method: c.req.method,
      path: new URL(c.req.url).pathname,
      headers: Object.fromEntries(c.req.raw.headers),
      rawBody: await c.req.text(),
      at: Date.now(),
    });
    return c.json({ received: true }, answer as 200);
  });
  const server = await serveHttp(app);
  return { url: server.url, received, respondWith: (s) => { answer = s; }, close: () => server.close() };
}
