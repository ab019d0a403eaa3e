import { zValidator } from '@hono/zod-validator';
import type { ValidationTargets } from 'hono';
import type { z } from 'zod';
import { validationProblem } from './problem';

const WHERE: Record<keyof ValidationTargets, string> = {
  json: 'request body', query: 'query string', param: 'path', form: 'form', header: 'headers', cookie: 'cookies',
};

/** zod validation at the edge; failures answer 422 problem+json with one entry per issue. */
export function validate<T extends z.ZodType, Target extends keyof ValidationTargets>(target: Target, schema: T) {
  return zValidator(target, schema, (result, c) => {
    if (!result.success) return validationProblem(c, result.error as unknown as z.ZodError, WHERE[target]);
  });
}
