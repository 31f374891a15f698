// The one seam between the proxy and child processes. Real kernel tools (nft, conntrack, ip) are
// only ever started through an Execer, so tests can replay expected invocations instead.
import { spawn } from 'node:child_process';
import { KubeProxyError } from '../errors.ts';
import { type Clock, realClock } from '../util/clock.ts';

export interface ExecResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export interface ExecOptions {
  /** Written to the child's stdin (with backpressure), then stdin is closed. */
  readonly stdin?: string | Iterable<string>;
  readonly timeoutMs?: number;
}

export interface Execer {
  run(command: string, args: readonly string[], options?: ExecOptions): Promise<ExecResult>;
}

const DEFAULT_TIMEOUT_MS = 60_000;

/** Streams chunks into a writable, waiting for 'drain' when its buffer is full, then ends it. */
async function writeAll(stream: NodeJS.WritableStream, chunks: Iterable<string>): Promise<void> {
  for (const chunk of chunks) {
    if (!stream.write(chunk)) {
      await new Promise<void>((resolve) => {
        const done = () => {
          stream.off('drain', done);
          stream.off('close', done);
          resolve();
        };
        stream.once('drain', done);
        stream.once('close', done);
      });
    }
  }
  stream.end();
}

/**
 * Runs commands with spawn (never exec/execFile: their 1 MiB output cap breaks on big rulesets).
 * A non-zero exit is a result, not an error; failing to start or timing out is an error.
 */
export class ProcessExecer implements Execer {
  readonly #clock: Clock;

  /** `clock`: when a run times out. */
  constructor(clock: Clock = realClock) {
    this.#clock = clock;
  }

  run(command: string, args: readonly string[], options: ExecOptions = {}): Promise<ExecResult> {
    return new Promise((resolve, reject) => {
      const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'] });
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      let settled = false;
      const timer = this.#clock.setTimeout(() => {
        if (settled) return;
        settled = true;
        child.kill('SIGKILL');
        reject(
          new KubeProxyError(
            'KP_ERR_EXEC_TIMEOUT',
            `${command} timed out after ${options.timeoutMs ?? DEFAULT_TIMEOUT_MS} ms`,
          ),
        );
      }, options.timeoutMs ?? DEFAULT_TIMEOUT_MS);
      child.stdout.on('data', (b: Buffer) => out.push(b));
      child.stderr.on('data', (b: Buffer) => err.push(b));
      child.on('error', (e) => {
        if (settled) return;
        settled = true;
        this.#clock.clearTimeout(timer);
        reject(new KubeProxyError('KP_ERR_EXEC', `cannot run ${command}: ${e.message}`, { cause: e }));
      });
      child.on('close', (code, signal) => {
        if (settled) return;
        settled = true;
        this.#clock.clearTimeout(timer);
        resolve({
          code: code ?? (signal ? 128 : 1),
          stdout: Buffer.concat(out).toString('utf8'),
          stderr: Buffer.concat(err).toString('utf8'),
        });
      });
      // A child that exits before reading all of stdin raises EPIPE; the exit code tells the story.
      child.stdin.on('error', () => {});
      const input = options.stdin ?? '';
      if (typeof input === 'string') child.stdin.end(input);
      else void writeAll(child.stdin, input);
    });
  }
}
