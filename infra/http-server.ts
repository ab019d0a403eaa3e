import { serve, type ServerType } from '@hono/node-server';
import type { Hono } from 'hono';
import type { AddressInfo } from 'node:net';

export interface RunningServer {
  url: string;
  port: number;
  /**
   * Stops accepting connections at once and lets requests in flight finish, for at most `graceMs`; then cuts what is
   * left. Keep-alive connections are closed as soon as they are idle.
   */
  close(graceMs?: number): Promise<void>;
}

/** Serves a Hono app (on loopback unless told otherwise); port 0 picks a free port. */
export function serveHttp(app: Hono, port = 0, hostname = '127.0.0.1'): Promise<RunningServer> {
  return new Promise((resolve, reject) => {
    let server: ServerType | undefined = undefined;
    server = serve({ fetch: app.fetch, port, hostname }, (info: AddressInfo) => {
      const s = server!;
      resolve({
        url: `http://${hostname}:${info.port}`,
        port: info.port,
        close: (graceMs = 0) => new Promise<void>((res) => {
          const http = s as unknown as { closeAllConnections(): void; closeIdleConnections(): void };
          const idle = setInterval(() => http.closeIdleConnections(), 50);
          const cut = setTimeout(() => http.closeAllConnections(), graceMs);
          s.close(() => { clearInterval(idle); clearTimeout(cut); res(); });
          http.closeIdleConnections();
        }),
      });
    });
    server.on('error', reject);
  });
}
