import { ProxboxError } from '../clients/proxbox';
import type { BackendConfig } from '../db/endpoints';
import { upstreamEndpointGate, type ClosedGate, type UpstreamEndpoint } from '../domain/gates';
import { freshReads } from '../infra/batching';
import type { UpstreamErrorObserver } from '../clients/errors';
import { clientFor } from './deps';

/**
 * proxbox-api's own gate for one endpoint, read before every write (create, update, tag, destroy). Concurrent writes of
 * one worker share a read, but only one that started after each of them asked, so the answer is never older than the
 * write. A proxbox-api that cannot be read throws (the caller's retry policy decides); an unknown endpoint closes.
 */
export function createUpstreamGate(onError?: UpstreamErrorObserver): (backend: BackendConfig, backendEndpointId: number) => Promise<ClosedGate | null> {
  const read = freshReads(
    async (k: { backend: BackendConfig; id: number }): Promise<UpstreamEndpoint> => {
      try {
        const e = await clientFor(k.backend, onError).client.endpoint(k.id);
        return { enabled: e.enabled, allowWrites: e.allow_writes };
      } catch (err) {
        if (err instanceof ProxboxError && err.kind === 'not_found') return null;
        throw err;
      }
    },
    (k) => `${k.backend.url}\n${k.id}`,
  );
  return async (backend, id) => upstreamEndpointGate(await read({ backend, id }));
}
