import { ApplicationFailure } from '@temporalio/common';
import type { ActivityExecuteInput, ActivityInboundCallsInterceptor, Next } from '@temporalio/worker';
import { concealedDatabaseError } from '../db/errors';

/**
 * Every activity's failure passes here before it is written to workflow history: a database error leaves as its
 * driver's sentence and SQLSTATE only (still retryable), never with the query and its parameters.
 */
export class ConcealDatabaseErrors implements ActivityInboundCallsInterceptor {
  async execute(input: ActivityExecuteInput, next: Next<ActivityInboundCallsInterceptor, 'execute'>): Promise<unknown> {
    try {
      return await next(input);
    } catch (err) {
      const db = concealedDatabaseError(err);
      if (!db) throw err;
      throw ApplicationFailure.create({ message: db.message, type: `database:${db.code ?? 'error'}`, nonRetryable: false });
    }
  }
}
