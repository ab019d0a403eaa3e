/** A Proxmox task id: `UPID:<node>:<pid>:<pstart>:<starttime>:<type>:<id>:<user>:` with 8-digit upper-case hex numbers. */
export interface UpidParts {
  node: string;
  pid: number;
  pstart: number;
  starttime: number;
  type: string;
  id: string;
  user: string;
}

const hex8 = (n: number) => n.toString(16).toUpperCase().padStart(8, '0');

export function formatUpid(p: UpidParts): string {
  return `UPID:${p.node}:${hex8(p.pid)}:${hex8(p.pstart)}:${hex8(p.starttime)}:${p.type}:${p.id}:${p.user}:`;
}

const UPID = /^UPID:([^:]+):([0-9A-Fa-f]{8}):([0-9A-Fa-f]{8,9}):([0-9A-Fa-f]{8}):([^:]*):([^:]*):([^:]+):$/;

export function parseUpid(upid: string): UpidParts | null {
  const m = UPID.exec(upid);
  if (!m) return null;
  const [, node, pid, pstart, starttime, type, id, user] = m as unknown as string[];
  return {
    node: node!, pid: parseInt(pid!, 16), pstart: parseInt(pstart!, 16), starttime: parseInt(starttime!, 16),
    type: type!, id: id!, user: user!,
  };
}
