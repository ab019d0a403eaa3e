import { createProxboxSimulator, DEFAULT_API_KEY, type ProxboxSimulator, type ProxboxSimulatorOptions } from './index';

// Response bodies are arbitrary JSON that tests index into and compare with toEqual.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Json = any;

export interface SimResponse { status: number; headers: Headers; body: Json }

export interface RequestOptions {
  body?: unknown;
  /** API key to send; `null` sends none. Defaults to the simulator's default key. */
  key?: string | null;
  headers?: Record<string, string>;
}

export interface TestProxbox {
  sim: ProxboxSimulator;
  url: string;
  request(method: string, path: string, opts?: RequestOptions): Promise<SimResponse>;
  close(): Promise<void>;
}

/** A simulator listening on a loopback port, with a small fetch wrapper for tests and scripts. */
export async function startTestProxbox(opts: ProxboxSimulatorOptions = {}): Promise<TestProxbox> {
  const sim = createProxboxSimulator(opts);
  const server = await sim.listen(0);
  const defaultKey = opts.apiKeys?.[0] ?? DEFAULT_API_KEY;
  return {
    sim,
    url: server.url,
    async request(method, path, o = {}) {
      const headers: Record<string, string> = { ...o.headers };
      const key = o.key === undefined ? defaultKey : o.key;
      if (key !== null) headers['X-Proxbox-API-Key'] = key;
      if (o.body !== undefined) headers['Content-Type'] = 'application/json';
      const res = await fetch(`${server.url}${path}`, {
        method, headers, body: o.body === undefined ? undefined : typeof o.body === 'string' ? o.body : JSON.stringify(o.body),
      });
      const text = await res.text();
      let body: Json = text;
      try { body = text ? JSON.parse(text) : null; } catch { /* not JSON: keep the text */ }
      return { status: res.status, headers: res.headers, body };
    },
    close: () => sim.close(),
  };
}
