import type { Capabilities, ProxboxClient } from './proxbox';
import type { ClusterResource } from '../contracts/proxbox-api';
import type { GuestKind } from '../domain/guest-kind';

/**
 * Where a guest is now: first read on the node where we expect it (one guest), then, when it is not there, the whole
 * cluster listing (proxbox-api.md §8.1), which also tells whether it moved or is gone. The listing of a large cluster is costly.
 * Null only when §8.1 answered and does not list the VMID; a read that fails throws, so absence is never guessed.
 * Shared by the deletion's execution (activities) and the confirmation of a manual destroy (services).
 */
export async function locateGuest(
  client: ProxboxClient, caps: Capabilities, backendEndpointId: number,
  expected: { vmid: number; node: string; kind: GuestKind }, signal?: AbortSignal,
): Promise<ClusterResource | null> {
  if (caps.guestStatusProxy) {
    const { name } = await client.endpoint(backendEndpointId, signal);
    const here = await client.guestOnNode({ ...expected, endpointName: name }, signal);
    if (here) return here;
  }
  return client.findGuest(backendEndpointId, expected.vmid, signal);
}
