import type { Child } from 'hono/jsx';
import { APPLY_REASONS, CALL_FAILURE_REASONS, GATE_REASONS, PLAN_FINDING_REASONS, PROXBOX_REPORTED_REASONS } from '../../domain/result-reasons';

/** A boxed message; `bad` ones are announced to screen readers at once (role=alert). */
export function Callout(props: { tone: 'bad' | 'warn' | 'info' | 'ok'; title?: string; children?: Child }) {
  return (
    <div class={`callout ${props.tone}`} role={props.tone === 'bad' ? 'alert' : 'status'}>
      {props.title && <p><strong>{props.title}</strong></p>}
      {props.children}
    </div>
  );
}

/**
 * A refusal of a use case (services answer `{ ok: false, code, detail }`) or an API problem: the `detail` is already
 * in the operator guide's words and is shown as it is, with the stable code for searching the docs.
 */
export function RefusalCallout(props: { refusal: { code: string; detail: string }; title?: string }) {
  return (
    <Callout tone="bad" title={props.title ?? 'Refused'}>
      <p>{props.refusal.detail}</p>
      <p class="muted">Code: <code>{props.refusal.code}</code></p>
    </Callout>
  );
}

const REASONS: Record<string, string> = {
  ...GATE_REASONS, ...PLAN_FINDING_REASONS, ...APPLY_REASONS, ...CALL_FAILURE_REASONS, ...PROXBOX_REPORTED_REASONS,
};

/** A reason code with its meaning from domain/result-reasons.ts (`_cancelled` and unknown codes shown as they are). */
export function Reason(props: { code: string | null }) {
  if (!props.code) return <span class="muted">—</span>;
  const meaning = REASONS[props.code];
  return <span><code>{props.code}</code>{meaning && <span class="muted">: {meaning}</span>}</span>;
}
