// Long-running children (echo servers, the proxy) with their output split into lines and kept,
// so a failing test can quote what the process said.
import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';

const MAX_LINES = 5000;

export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export class LineProcess {
  readonly child: ChildProcess;
  readonly label: string;
  readonly stdoutLines: string[] = [];
  readonly stderrLines: string[] = [];
  readonly exited: Promise<ExitStatus>;
  exitStatus: ExitStatus | undefined;
  private readonly waiters = new Set<() => void>();

  constructor(label: string, cmd: string, args: readonly string[], env?: NodeJS.ProcessEnv) {
    this.label = label;
    // stdin stays a pipe: our helpers exit when it closes, so they die with this process. Own
    // process group: a terminal's Ctrl-C reaches only the parent, which then stops us in order.
    this.child = spawn(cmd, args, {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: env ?? process.env,
      detached: true,
    });
    this.exited = new Promise((resolve) => {
      this.child.on('error', (err) => {
        this.stderrLines.push(`spawn failed: ${err.message}`);
        this.exitStatus ??= { code: null, signal: null };
        resolve(this.exitStatus);
        this.notify();
      });
      this.child.on('exit', (code, signal) => {
        this.exitStatus = { code, signal };
        resolve(this.exitStatus);
        this.notify();
      });
    });
    this.child.stdin?.on('error', () => {});
    this.capture(this.child.stdout, this.stdoutLines);
    this.capture(this.child.stderr, this.stderrLines);
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  private capture(stream: NodeJS.ReadableStream | null, into: string[]): void {
    if (!stream) return;
    createInterface({ input: stream }).on('line', (line) => {
      into.push(line);
      if (into.length > MAX_LINES) into.splice(0, into.length - MAX_LINES);
      this.notify();
    });
  }

  private notify(): void {
    for (const w of [...this.waiters]) w();
  }

  /** Output tail for error messages. */
  tail(n = 40): string {
    const lines = [...this.stdoutLines.slice(-n).map((l) => `out| ${l}`), ...this.stderrLines.slice(-n)];
    return lines.slice(-n).join('\n');
  }

  /** Resolves with the first line (old or new, stdout or stderr) matching `re`. */
  waitForLine(re: RegExp, timeoutMs: number): Promise<string> {
    return new Promise((resolve, reject) => {
      const check = (): boolean => {
        const hit = this.stderrLines.find((l) => re.test(l)) ?? this.stdoutLines.find((l) => re.test(l));
        if (hit !== undefined) {
          done();
          resolve(hit);
          return true;
        }
        if (this.exitStatus) {
          done();
          reject(
            new Error(
              `${this.label} exited (${fmtExit(this.exitStatus)}) before logging ${re}:\n${this.tail()}`,
            ),
          );
          return true;
        }
        return false;
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`${this.label}: no line matching ${re} within ${timeoutMs} ms:\n${this.tail()}`));
      }, timeoutMs);
      const done = (): void => {
        clearTimeout(timer);
        this.waiters.delete(listener);
      };
      const listener = (): void => {
        check();
      };
      if (!check()) this.waiters.add(listener);
    });
  }

  /** SIGTERM, then SIGKILL once `graceMs` has passed. */
  async stop(graceMs = 3000): Promise<ExitStatus> {
    if (this.exitStatus) return this.exitStatus;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    try {
      return await this.exited;
    } finally {
      clearTimeout(timer);
    }
  }

  killSync(): void {
    if (!this.exitStatus) this.child.kill('SIGKILL');
  }
}

export function fmtExit(s: ExitStatus): string {
  return s.signal ? `signal ${s.signal}` : `code ${s.code}`;
}
