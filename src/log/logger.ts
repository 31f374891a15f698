// A klog-compatible logger: `I1126 07:14:21.123456   12345 file.go:1] "msg" key="value"`.
// Text goes to stderr synchronously so that nothing is lost when the process exits.
import { writeSync } from 'node:fs';
import { type Clock, realClock } from '../util/clock.ts';

export type LogValue = unknown;
export type KV = Record<string, LogValue>;

export interface Logger {
  info(msg: string, kv?: KV): void;
  /** Logs only when the configured verbosity is at least `level`. */
  v(level: number, msg: string, kv?: KV): void;
  warn(msg: string, kv?: KV): void;
  error(msg: string, kv?: KV): void;
  enabled(level: number): boolean;
  withName(name: string): Logger;
}

export type LogFormat = 'text' | 'json';

export interface LoggerOptions {
  verbosity: number;
  format?: LogFormat;
  /** Where lines go; defaults to stderr. Tests pass a collector. */
  sink?: (line: string) => void;
  /** Timestamps of the lines; default the real clock. */
  clock?: Pick<Clock, 'date'>;
}

function quote(s: string): string {
  return JSON.stringify(s);
}

function formatValue(value: LogValue): string {
  if (value instanceof Error) return quote(value.message);
  if (typeof value === 'string') return quote(value);
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint')
    return String(value);
  if (value === null || value === undefined) return '<nil>';
  return JSON.stringify(value);
}

function jsonValue(value: LogValue): unknown {
  if (value instanceof Error) return value.message;
  if (typeof value === 'bigint') return value.toString();
  return value;
}

function pad(n: number, width: number): string {
  return String(n).padStart(width, '0');
}

function klogHeader(severity: string, now: Date, name: string): string {
  const date = `${pad(now.getUTCMonth() + 1, 2)}${pad(now.getUTCDate(), 2)}`;
  const time = `${pad(now.getUTCHours(), 2)}:${pad(now.getUTCMinutes(), 2)}:${pad(now.getUTCSeconds(), 2)}.${pad(now.getUTCMilliseconds() * 1000, 6)}`;
  return `${severity}${date} ${time} ${String(process.pid).padStart(7, ' ')} ${name}]`;
}

export function createLogger(options: LoggerOptions, name = 'kube-proxy-ts'): Logger {
  const sink = options.sink ?? ((line: string) => writeSync(2, `${line}\n`));
  const clock = options.clock ?? realClock;
  const format = options.format ?? 'text';

  const emit = (severity: 'I' | 'W' | 'E', level: number, msg: string, kv?: KV) => {
    if (format === 'json') {
      const record: Record<string, unknown> = {
        ts: clock.date().getTime() / 1000,
        caller: name,
        msg,
        v: level,
      };
      if (severity === 'E') delete record.v;
      for (const [k, val] of Object.entries(kv ?? {})) record[k === 'err' ? 'err' : k] = jsonValue(val);
      sink(JSON.stringify(record));
      return;
    }
    let line = `${klogHeader(severity, clock.date(), name)} ${quote(msg)}`;
    for (const [k, val] of Object.entries(kv ?? {})) line += ` ${k}=${formatValue(val)}`;
    sink(line);
  };

  return {
    info: (msg, kv) => emit('I', 0, msg, kv),
    v: (level, msg, kv) => {
      if (options.verbosity >= level) emit('I', level, msg, kv);
    },
    warn: (msg, kv) => emit('W', 0, msg, kv),
    error: (msg, kv) => emit('E', 0, msg, kv),
    enabled: (level) => options.verbosity >= level,
    withName: (child) => createLogger(options, child),
  };
}

/** A logger that drops everything, for tests that do not look at logs. */
export const silentLogger: Logger = createLogger({ verbosity: -1, sink: () => {} });
