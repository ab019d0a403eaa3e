/** How each state looks: green done, amber partial or waiting, red failed or refused, blue in progress, grey closed. */
const TONES: Record<string, 'ok' | 'warn' | 'bad' | 'info' | 'idle'> = {
  succeeded: 'ok', accepted: 'ok', ok: 'ok', approved: 'ok', permitted: 'ok', deletion_requested: 'info',
  partial: 'warn', pending: 'warn', warning: 'warn', unknown: 'warn', queued: 'info',
  running: 'info', executing: 'info',
  failed: 'bad', error: 'bad', blocked: 'bad', rejected: 'bad', refused: 'bad',
  cancelled: 'idle', expired: 'idle', skipped: 'idle', not_implemented: 'idle',
};

/** A state as a badge: the word itself is shown, so the colour is never the only cue. */
export function StateBadge(props: { state: string }) {
  return <span class={`badge ${TONES[props.state] ?? 'idle'}`}>{props.state.replaceAll('_', ' ')}</span>;
}
