import { serve, type ServerType } from '@hono/node-server';
import type { Hono } from 'hono';
import type { AddressInfo } from 'node:net';

export interface RunningServer { url: string; port: number; close(): Promise<void> }

/** Serves a Hono app (on loopback unless told otherwise); port 0 picks a free port. */
export function serveHttp(app: Hono, port = 0, hostname = '127.0.0.1'): Promise<RunningServer> {
  return new Promise((resolve, reject) => {
    let server: ServerType | undefined = undefined;
    server = serve({ fetch: app.fetch, port, hostname }, (info: AddressInfo) => {
      const s = server!;
      resolve({
        url: `http://${hostname}:${info.port}`,
        port: info.port,
        close: () => new Promise<void>((res) => {
          (s as unknown as { closeAllConnections?: () => void }).closeAllConnections?.();
          s.close(() => res());
        }),
      });
    });
    server.on('error', reject);
  });
}
