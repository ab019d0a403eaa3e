import { context, isSpanContextValid, trace } from '@opentelemetry/api';
import type { LogLevel as TemporalLogLevel, LogMetadata, Logger as TemporalLogger } from '@temporalio/common';
import pino, { type DestinationStream, type Logger } from 'pino';
import { REDACTED, errorMessage, redactDeep, withoutSecrets } from '../domain/secret-text';

export type { Logger } from 'pino';
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

/**
 * Known secret keys at the places they are logged most (pino's own redaction); redactDeep then covers any key at any
 * depth, and the line as written is scrubbed once more (bearer tokens, `password: …`, the secrets this process holds).
 */
const REDACT_PATHS = [
  'apiKey', 'api_key', 'token', 'password', 'cipassword', 'secret', 'authorization', 'cookie', 'user_data', 'userData',
  '*.apiKey', '*.api_key', '*.token', '*.password', '*.cipassword', '*.secret', '*.authorization', '*.cookie', '*.user_data', '*.userData',
  'headers["x-proxbox-api-key"]', 'headers.authorization', 'req.headers.authorization', 'req.headers.cookie',
];

/** Literal secrets this process holds (tokens, keys): never written, whatever carries them. */
const literalSecrets = new Set<string>();

/** Registers a secret value (an API key, a token) that no log line may contain; values under 6 characters are ignored. */
export function neverLog(...values: (string | null | undefined)[]): void {
  for (const v of values) if (v && v.length >= 6) literalSecrets.add(v);
}

/** A log line as written: the literal secrets this process knows, then anything that looks like one. */
export function scrubLine(line: string): string {
  let out = line;
  for (const secret of literalSecrets) {
    if (out.includes(secret)) out = out.split(secret).join(REDACTED);
    const escaped = JSON.stringify(secret).slice(1, -1);
    if (escaped !== secret && out.includes(escaped)) out = out.split(escaped).join(REDACTED);
  }
  return withoutSecrets(out);
}

function errorFields(err: unknown): unknown {
  // Already made plain (and scrubbed) by redactDeep.
  if (err && typeof err === 'object' && !(err instanceof Error)) return err;
  if (!(err instanceof Error)) return { message: withoutSecrets(String(err)) };
  const cause = err.cause instanceof Error ? { cause: withoutSecrets(err.cause.message) } : {};
  return { type: err.name, message: errorMessage(err), ...cause };
}

export interface LoggerOptions {
  level?: LogLevel | 'silent';
  /** Where lines go (default: stdout); tests pass a stream of their own. */
  destination?: DestinationStream;
  /** Fields on every line, such as the service's role. */
  base?: Record<string, unknown>;
}

/**
 * JSON lines (pino): `level` as a word, an ISO `time`, `msg`, the trace and span ids when the line is written inside a
 * span, and no secret. The logger scrubs by itself: known secret keys are redacted wherever they are, messages and
 * strings are cleaned of credentials, errors keep their type and cleaned message only (no stack of SQL and parameters).
 */
export function createLogger(opts: LoggerOptions = {}): Logger {
  return pino({
    level: opts.level ?? 'info',
    base: { ...opts.base },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: { paths: REDACT_PATHS, censor: REDACTED },
    serializers: { err: errorFields, error: errorFields },
    formatters: {
      level: (label) => ({ level: label }),
      bindings: (bindings) => redactDeep(bindings) as Record<string, unknown>,
      log: (obj) => redactDeep(obj) as Record<string, unknown>,
    },
    mixin() {
      const span = trace.getSpan(context.active())?.spanContext();
      return span && isSpanContextValid(span) ? { trace_id: span.traceId, span_id: span.spanId } : {};
    },
    hooks: {
      logMethod(args, method) {
        const [first, ...rest] = args as unknown[];
        // An error alone: pino would take its raw message as the line's message.
        if (first instanceof Error && rest.length === 0) return method.call(this, { err: first }, errorMessage(first));
        const scrubbed = [first, ...rest].map((a) => (typeof a === 'string' ? withoutSecrets(a) : a));
        return (method as (...a: unknown[]) => void).apply(this, scrubbed);
      },
      streamWrite: scrubLine,
    },
  }, opts.destination ?? pino.destination({ dest: 1, sync: true }));
}

let root: Logger = createLogger({ level: (['debug', 'info', 'warn', 'error'] as const).find((l) => l === process.env.LOG_LEVEL) ?? 'info' });

/** The process's logger (LOG_LEVEL; configured by the service's start). */
export function logger(): Logger {
  return root;
}

/** Replaces the process's logger: the level from configuration, and in tests a destination to read the lines from. */
export function configureLogging(opts: LoggerOptions): Logger {
  root = createLogger(opts);
  return root;
}

const LEVEL_ORDER = ['trace', 'debug', 'info', 'warn', 'error'] as const;
const TEMPORAL_LEVELS: Record<TemporalLogLevel, 'trace' | 'debug' | 'info' | 'warn' | 'error'> = {
  TRACE: 'trace', DEBUG: 'debug', INFO: 'info', WARN: 'warn', ERROR: 'error',
};

/**
 * The Temporal SDK's logger (Runtime.install), written by the process's logger at the time of each line. Activity and
 * workflow lines keep the SDK's attributes (workflowId, activityId, …; `runId` for the run, as on workflow lines);
 * the SDK's own chatter at info (worker state, bundling) is demoted to debug. Lines below `minimum` are dropped here,
 * whatever the logger's level (benchmarks keep only the SDK's errors).
 */
export function temporalLogger(minimum: LogLevel = 'debug'): TemporalLogger {
  const floor = LEVEL_ORDER.indexOf(minimum);
  const write = (level: TemporalLogLevel, message: string, meta: LogMetadata = {}) => {
    const { taskToken: _token, workflowRunId, ...fields } = meta as Record<string, unknown>;
    if (workflowRunId !== undefined && fields.runId === undefined) fields.runId = workflowRunId;
    const own = fields.sdkComponent === 'activity' || fields.sdkComponent === 'workflow';
    const pinoLevel = level === 'INFO' && !own ? 'debug' : TEMPORAL_LEVELS[level];
    if (LEVEL_ORDER.indexOf(pinoLevel) < floor) return;
    root[pinoLevel](fields, message);
  };
  return {
    log: write,
    trace: (m, meta) => write('TRACE', m, meta),
    debug: (m, meta) => write('DEBUG', m, meta),
    info: (m, meta) => write('INFO', m, meta),
    warn: (m, meta) => write('WARN', m, meta),
    error: (m, meta) => write('ERROR', m, meta),
  };
}
