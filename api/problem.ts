import type { Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { z } from 'zod';
import { UpstreamError } from '../clients/errors';

/** The one answer (400 `malformed_json`) to a body that is not JSON, on every route. */
export const MALFORMED_JSON = 'The request body is not valid UTF-8 JSON.';

export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: string;
  errors?: { path: string; message: string }[];
}

const TITLES: Record<number, string> = {
  400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 409: 'Conflict',
  413: 'Payload Too Large', 415: 'Unsupported Media Type', 422: 'Unprocessable Content', 429: 'Too Many Requests', 500: 'Internal Server Error', 502: 'Bad Gateway',
  503: 'Service Unavailable', 504: 'Gateway Timeout',
};

/** An error that becomes an application/problem+json answer. */
export class ProblemError extends Error {
  constructor(readonly status: number, readonly code: string, readonly detail: string, readonly errors?: Problem['errors']) {
    super(detail);
  }
}

export function problemBody(status: number, code: string, detail: string, errors?: Problem['errors']): Problem {
  return { type: `https://proxbox-intent.dev/problems/${code}`, title: TITLES[status] ?? 'Error', status, detail, code, ...(errors ? { errors } : {}) };
}

export function problem(c: Context, status: number, code: string, detail: string, errors?: Problem['errors']): Response {
  return c.body(JSON.stringify(problemBody(status, code, detail, errors)), status as ContentfulStatusCode, {
    'content-type': 'application/problem+json',
  });
}

/** A zod error as the `validation_failed` refusal: one entry per issue and the sentence naming them all. */
export function validationRefusal(error: z.ZodError, where: string): { code: 'validation_failed'; detail: string; errors: { path: string; message: string }[] } {
  const errors = error.issues.map((i) => ({ path: i.path.length ? i.path.join('.') : where, message: i.message }));
  return { code: 'validation_failed', detail: `The ${where} is invalid: ${errors.map((e) => `${e.path}: ${e.message}`).join('; ')}`, errors };
}

export function validationProblem(c: Context, error: z.ZodError, where: string): Response {
  const { code, detail, errors } = validationRefusal(error, where);
  return problem(c, 422, code, detail, errors);
}

/**
 * The app's error handler: known errors keep their status and code; an upstream system that failed (NetBox,
 * proxbox-api) is a 502 naming it, in this one place; anything else is a 500 without internals.
 */
export function onError(log: (msg: string, err: unknown) => void) {
  return (err: Error, c: Context): Response => {
    if (err instanceof ProblemError) return problem(c, err.status, err.code, err.detail, err.errors);
    if (err instanceof UpstreamError) return problem(c, 502, `${err.system.replace('-', '_')}_unavailable`, err.message);
    if (err instanceof HTTPException) {
      const status = err.status;
      // Hono's own 400 is its JSON validator meeting an empty body declared as JSON: the same answer as any malformed body.
      if (status === 400) return problem(c, 400, 'malformed_json', MALFORMED_JSON);
      // The generated validators refuse a declared body of another media type (jsonBodies() answers the same for a non-empty one).
      if (status === 415) return problem(c, 415, 'unsupported_media_type', 'Request bodies are JSON: send Content-Type: application/json.');
      const code = status === 413 ? 'payload_too_large' : 'http_error';
      return problem(c, status, code, err.message || TITLES[status] || 'Error');
    }
    log('unhandled error in API request', err);
    return problem(c, 500, 'internal_error', 'An unexpected error occurred.');
  };
}
