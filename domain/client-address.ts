/**
 * The address a request comes from, for per-IP limits: the socket peer, unless the peer is one of our trusted
 * reverse proxies, in which case the right-most X-Forwarded-For entry that is not a trusted proxy (entries further
 * left are written by the client and prove nothing). Pure.
 */
export function clientAddress(peer: string | null, forwardedFor: string | null, trustedProxies: readonly string[]): string {
  const normal = (a: string) => a.trim().replace(/^::ffff:/, '');
  const address = peer ? normal(peer) : 'unknown';
  if (!forwardedFor || !trustedProxies.map(normal).includes(address)) return address;
  const hops = forwardedFor.split(',').map(normal).filter(Boolean);
  for (let i = hops.length - 1; i >= 0; i--) if (!trustedProxies.map(normal).includes(hops[i]!)) return hops[i]!;
  return address;
}
