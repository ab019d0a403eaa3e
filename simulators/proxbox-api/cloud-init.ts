import type { CloudInitPayload } from '../../contracts/proxbox-api';
import { toBlockYaml } from './yaml';

const PASS_THROUGH = ['user=', 'network=', 'vendor=', 'meta='];

/** Python's `urllib.parse.quote(s, safe='')`: everything but `A-Za-z0-9_.-~` is percent-encoded. */
export function quoteAll(s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, (ch) => `%${ch.charCodeAt(0).toString(16).toUpperCase()}`);
}

export function cicustomOf(userData: string | Record<string, unknown>): string {
  if (typeof userData === 'string') {
    return PASS_THROUGH.some((p) => userData.trim().startsWith(p)) ? userData : `user=${userData}`;
  }
  return `user=${toBlockYaml(userData)}`;
}

export function ipconfig0Of(network: Record<string, unknown>): string | null {
  if (network.ipconfig0 !== undefined && network.ipconfig0 !== null) return String(network.ipconfig0);
  if (network.ip === undefined || network.ip === null) return null;
  let ip = String(network.ip);
  const cidr = network.cidr;
  if (cidr !== undefined && cidr !== null && !ip.includes('/') && !['dhcp', 'auto'].includes(ip.toLowerCase())) ip = `${ip}/${String(cidr)}`;
  const gateway = network.gw || network.gateway;
  return gateway !== undefined && gateway !== null ? `ip=${ip},gw=${String(gateway)}` : `ip=${ip}`;
}

/** proxbox-api.md §5.6: the Proxmox ci* parameters for a cloud-init payload, in the order proxbox-api builds them. */
export function cloudInitParams(ci: CloudInitPayload): Record<string, string> {
  const out: Record<string, string> = {};
  if (ci.user != null) out.ciuser = ci.user;
  if (ci.password != null) out.cipassword = ci.password;
  if (ci.ssh_keys != null) out.sshkeys = quoteAll(ci.ssh_keys.join('\n'));
  if (ci.user_data != null) out.cicustom = cicustomOf(ci.user_data);
  if (ci.network != null) {
    const ipconfig0 = ipconfig0Of(ci.network);
    if (ipconfig0 !== null) out.ipconfig0 = ipconfig0;
  }
  if (ci.search_domain != null) out.searchdomain = ci.search_domain;
  if (ci.dns_servers?.length) out.nameserver = ci.dns_servers.join(' ');
  return out;
}
