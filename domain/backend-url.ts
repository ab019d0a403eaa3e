import { checkOutboundUrl } from './outbound-url';

/**
 * Where the proxbox-api key may be sent. The key bypasses every gate in proxbox-api, so the backend URL is checked
 * whenever it is set (API, environment seed): https only unless PROXBOX_API_ALLOW_HTTP=true, only hosts of
 * PROXBOX_API_ALLOWED_HOSTS when that list is set, and nothing in the URL that could hide the real host.
 */
export interface BackendUrlPolicy {
  allowHttp: boolean;
  /** Lower-case `host` or `host:port` entries; empty: any host. */
  allowedHosts: readonly string[];
}

export const DEFAULT_BACKEND_URL_POLICY: BackendUrlPolicy = { allowHttp: false, allowedHosts: [] };

export function parseAllowedHosts(list: string | undefined): string[] {
  return (list ?? '').split(',').map((h) => h.trim().toLowerCase()).filter(Boolean);
}

/** Null when the URL may receive the key; otherwise the sentence that says why not. */
export function backendUrlRefusal(url: string, policy: BackendUrlPolicy): string | null {
  const parsed = checkOutboundUrl(url, {
    name: 'the proxbox-api URL', allowHttp: policy.allowHttp, refuseQuery: true,
    httpRefusal: 'plain http is refused for proxbox-api (the API key would travel unencrypted); use https, or set PROXBOX_API_ALLOW_HTTP=true',
  });
  if (typeof parsed === 'string') return parsed;
  if (policy.allowedHosts.length > 0) {
    const host = parsed.hostname.toLowerCase();
    const port = parsed.port || (parsed.protocol === 'https:' ? '443' : '80');
    if (!policy.allowedHosts.includes(host) && !policy.allowedHosts.includes(`${host}:${port}`)) {
      return `host ${host} is not in PROXBOX_API_ALLOWED_HOSTS`;
    }
  }
  return null;
}

/** The URL as stored and compared: no trailing slash, so `https://h/` and `https://h` are the same backend. */
export function normalizeBackendUrl(url: string): string {
  return url.replace(/\/+$/, '');
}
