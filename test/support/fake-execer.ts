// The one fake Execer: records every command line (and its stdin) and answers from a script (in
// order), then from a table keyed by the whole command line or the command alone, then a default.
import { KubeProxyError } from '../../src/errors.ts';
import type { Execer, ExecOptions, ExecResult } from '../../src/kernel/exec.ts';

/** An answer: the result's fields (code 0 and empty output unless given), or a binary that is not installed. */
export type Answer = Partial<ExecResult> | 'missing';

export interface FakeExecerOptions {
  /** Answers for the first calls, in order, whatever they run. */
  readonly script?: readonly Answer[];
  /** Answers by command line ("ip link show kube-ipvs0") or by command ("ipset"). */
  readonly answers?: Readonly<Record<string, Answer>>;
  /** For everything else; default a successful run with no output. */
  readonly otherwise?: Answer;
}

export interface ExecCall {
  readonly argv: string[];
  readonly stdin?: string;
}

export class FakeExecer implements Execer {
  readonly calls: ExecCall[] = [];
  readonly #script: Answer[];
  readonly #answers: Readonly<Record<string, Answer>>;
  readonly #otherwise: Answer;

  constructor(opts: FakeExecerOptions = {}) {
    this.#script = [...(opts.script ?? [])];
    this.#answers = opts.answers ?? {};
    this.#otherwise = opts.otherwise ?? {};
  }

  /** The command lines run, words joined by spaces. */
  get lines(): string[] {
    return this.calls.map((c) => c.argv.join(' '));
  }

  /** The argv of every call. */
  get argvs(): string[][] {
    return this.calls.map((c) => c.argv);
  }

  /** The stdin of every call that had one, in order. */
  get stdin(): string[] {
    return this.calls.flatMap((c) => (c.stdin === undefined ? [] : [c.stdin]));
  }

  async run(command: string, args: readonly string[], options: ExecOptions = {}): Promise<ExecResult> {
    const argv = [command, ...args];
    this.calls.push({ argv, ...(typeof options.stdin === 'string' && { stdin: options.stdin }) });
    const a =
      this.#script.shift() ?? this.#answers[argv.join(' ')] ?? this.#answers[command] ?? this.#otherwise;
    // What ProcessExecer throws when the binary cannot be started.
    if (a === 'missing')
      throw new KubeProxyError('KP_ERR_EXEC', `cannot run ${command}: spawn ${command} ENOENT`);
    return { code: 0, stdout: '', stderr: '', ...a };
  }
}
