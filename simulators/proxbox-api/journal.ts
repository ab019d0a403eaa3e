import { scrubSecrets } from '../../contracts/proxbox-api';

export type JournalKind = 'info' | 'success' | 'warning' | 'danger';

/** A NetBox journal entry as proxbox-api would POST it to /api/extras/journal-entries/ (proxbox-api.md §5.9). */
export interface JournalEntry {
  seq: number;
  at: number;
  assigned_object_type: 'virtualization.virtualmachine';
  assigned_object_id: number;
  kind: JournalKind;
  comments: string;
}

export class JournalWriteError extends Error {
  constructor() {
    super('Failed to write verb audit journal entry');
    this.name = 'JournalWriteError';
  }
}

export interface JournalFacts {
  verb: string;
  actor: string | null | undefined;
  result: string;
  endpoint: { id: number; name: string } | null;
  endpointId: number;
  upid?: string | null;
  errorDetail?: string | null;
  extra: [string, string | number][];
}

/** The structured-Markdown comment body: one `- key: value` line per fact. */
export function journalComments(f: JournalFacts): string {
  const lines = [
    'Proxbox operational verb dispatched.',
    '',
    `- verb: ${f.verb}`,
    `- actor: ${f.actor || 'proxbox-api'}`,
    `- result: ${f.result}`,
  ];
  if (f.upid) lines.push(`- proxmox_task_upid: ${f.upid}`);
  lines.push(`- endpoint: ${f.endpoint?.name ?? 'unknown'} (id=${f.endpoint?.id ?? f.endpointId})`);
  lines.push(`- dispatched_at: ${new Date().toISOString()}`);
  if (f.errorDetail != null) lines.push(`- error_detail: ${f.errorDetail}`);
  for (const [k, v] of f.extra) lines.push(`- ${k}: ${v}`);
  return lines.join('\n');
}

/** The in-memory NetBox journal. `failNext(n)` makes the next n writes raise, like an unreachable NetBox. */
export class AuditJournal {
  readonly entries: JournalEntry[] = [];
  private failures = 0;
  private seq = 0;

  failNext(count: number): void {
    this.failures += count;
  }

  get pendingFailures(): number {
    return this.failures;
  }

  /** Comments are scrubbed (proxbox-api.md §5.11) before they are stored; a scheduled failure throws JournalWriteError. */
  write(objectId: number, kind: JournalKind, comments: string, secretValues: readonly string[] = []): JournalEntry {
    if (this.failures > 0) {
      this.failures -= 1;
      throw new JournalWriteError();
    }
    const entry: JournalEntry = {
      seq: ++this.seq,
      at: Date.now(),
      assigned_object_type: 'virtualization.virtualmachine',
      assigned_object_id: objectId,
      kind,
      comments: scrubSecrets(comments, secretValues),
    };
    this.entries.push(entry);
    return entry;
  }

  reset(): void {
    this.entries.length = 0;
    this.failures = 0;
    this.seq = 0;
  }
}
