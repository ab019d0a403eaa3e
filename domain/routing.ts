export interface RoutableEndpoint { id: number; clusters: string[]; isDefault: boolean }

/**
 * The endpoint that serves a VM's NetBox cluster, matched by cluster id or name; the default endpoint only when
 * no endpoint names the cluster. Never "the first writable endpoint".
 */
export function routeEndpoint<E extends RoutableEndpoint>(endpoints: readonly E[], cluster: { id: number | null; name: string | null }): E | null {
  const wanted = new Set<string>();
  if (cluster.id !== null) wanted.add(String(cluster.id));
  if (cluster.name) wanted.add(cluster.name.toLowerCase());
  const named = endpoints.find((e) => e.clusters.some((c) => wanted.has(c.toLowerCase())));
  return named ?? endpoints.find((e) => e.isDefault) ?? null;
}
