import type { Child } from 'hono/jsx';
import { CSRF_FIELD } from '../csrf';
import { RefusalCallout } from './callout';

/** The session's CSRF token; every `<form method="post">` of the pages carries it (ui/csrf.ts checks it). */
export function CsrfField(props: { token: string }) {
  return <input type="hidden" name={CSRF_FIELD} value={props.token} />;
}

/** A POST form with its CSRF field. */
export function PostForm(props: { action: string; csrfToken: string; class?: string; children?: Child }) {
  return (
    <form method="post" action={props.action} class={props.class}>
      <CsrfField token={props.csrfToken} />
      {props.children}
    </form>
  );
}

/** A labelled input (the label names it for screen readers; `hint` is tied to it with aria-describedby). */
export function Field(props: { id: string; label: string; name?: string; type?: string; value?: string | number | undefined; hint?: string;
  required?: boolean; autocomplete?: string; inputmode?: 'numeric' | 'text' }) {
  const hintId = props.hint ? `${props.id}-hint` : undefined;
  return (
    <div class="field">
      <label for={props.id}>{props.label}</label>
      <input id={props.id} name={props.name ?? props.id} type={props.type ?? 'text'} value={props.value === undefined ? undefined : String(props.value)}
        required={props.required} autocomplete={props.autocomplete} inputmode={props.inputmode} aria-describedby={hintId} />
      {props.hint && <span class="hint" id={hintId}>{props.hint}</span>}
    </div>
  );
}

export function SelectField(props: { id: string; label: string; name?: string; value?: string | undefined; options: readonly { value: string; label: string }[] }) {
  return (
    <div class="field">
      <label for={props.id}>{props.label}</label>
      <select id={props.id} name={props.name ?? props.id}>
        {props.options.map((o) => <option value={o.value} selected={o.value === (props.value ?? '')}>{o.label}</option>)}
      </select>
    </div>
  );
}

/** A labelled checkbox (sends `value`, `on` by default); unticked, the browser sends nothing, read as "off". */
export function CheckboxField(props: { id: string; label: string; name?: string; value?: string; checked?: boolean; hint?: string }) {
  const hintId = props.hint ? `${props.id}-hint` : undefined;
  return (
    <div class="field check">
      <div>
        <input type="checkbox" id={props.id} name={props.name ?? props.id} value={props.value ?? 'on'} checked={props.checked} aria-describedby={hintId} />{' '}
        <label for={props.id}>{props.label}</label>
      </div>
      {props.hint && <span class="hint" id={hintId}>{props.hint}</span>}
    </div>
  );
}

/**
 * The GET filter form above a list page (its fields as children, then Filter and a Clear link back to `action`),
 * followed by the API's refusal of the filters when there is one.
 */
export function FilterForm(props: { action: string; label: string; refusal?: { code: string; detail: string } | undefined; children?: Child }) {
  return (
    <>
      <form method="get" action={props.action} class="filters" role="search" aria-label={props.label}>
        {props.children}
        <div><button type="submit">Filter</button> <a class="button secondary" href={props.action}>Clear</a></div>
      </form>
      {props.refusal && <RefusalCallout refusal={props.refusal} title="These filters cannot be used" />}
    </>
  );
}

/** The State select of a filter form: "Any state" (empty) and then each state by name. */
export function StateFilter(props: { value: string | undefined; states: readonly string[] }) {
  return <SelectField id="state" label="State" value={props.value} options={[{ value: '', label: 'Any state' }, ...props.states.map((s) => ({ value: s, label: s }))]} />;
}
