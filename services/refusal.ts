/**
 * A use case's answer "no": a stable code and the sentence users see, never an HTTP status. The API maps codes to
 * statuses in one place (api/refusal-status.ts).
 */
export interface Refusal<Code extends string = string> { ok: false; code: Code; detail: string }

export function refuse<Code extends string>(code: Code, detail: string): Refusal<Code> {
  return { ok: false, code, detail };
}
