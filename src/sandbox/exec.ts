// Running short-lived commands (ip, nft, sysctl) with captured output. Failures throw with the
// command line and stderr in the message, because that text is what a failing test has to show.
import { execFileSync, spawn } from 'node:child_process';

export interface RunOptions {
  input?: string;
  timeoutMs?: number;
  /** Resolve with the result instead of throwing when the exit code is not 0. */
  allowFail?: boolean;
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export class CommandError extends Error {
  readonly result: RunResult;
  constructor(argv: readonly string[], result: RunResult) {
    super(`${argv.join(' ')} exited ${result.code}: ${result.stderr.trim() || result.stdout.trim()}`);
    this.name = 'CommandError';
    this.result = result;
  }
}

/**
 * A slow kernel (the tests' user-mode-linux guest: one CPU, ~50 ms a process) sets
 * KPTS_TEST_TIME_SCALE; the default command timeout stretches with it.
 */
const TIME_SCALE = Math.max(1, Number(process.env.KPTS_TEST_TIME_SCALE ?? 1) || 1);

export function run(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const argv = [cmd, ...args];
  return new Promise((resolve, reject) => {
    // detached: a terminal's Ctrl-C must not kill a probe halfway through a demo round.
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'], detached: true });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    const timeoutMs = opts.timeoutMs ?? 30_000 * TIME_SCALE;
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(new Error(`${argv.join(' ')}: ${e.message}`, { cause: e }));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const result = {
        code: code ?? -1,
        stdout: Buffer.concat(out).toString(),
        stderr: Buffer.concat(err).toString(),
      };
      if (timedOut) reject(new Error(`${argv.join(' ')}: no exit within ${timeoutMs} ms\n${result.stderr}`));
      else if (signal) reject(new Error(`${argv.join(' ')}: killed by ${signal}\n${result.stderr}`));
      else if (result.code !== 0 && !opts.allowFail) reject(new CommandError(argv, result));
      else resolve(result);
    });
    // A command that exits without reading its input must not fail us with EPIPE.
    child.stdin.on('error', () => {});
    if (opts.input === undefined) child.stdin.end();
    else child.stdin.end(opts.input);
  });
}

/** Synchronous variant for exit handlers, where the event loop no longer runs. Never throws. */
export function runSyncQuiet(cmd: string, args: readonly string[]): string {
  try {
    return execFileSync(cmd, args, { stdio: ['ignore', 'pipe', 'ignore'], timeout: 10_000 }).toString();
  } catch {
    return '';
  }
}
