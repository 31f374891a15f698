// The narrow interface to iptables (as upstream's pkg/util/iptables): bulk restore and save, plus
// the few single-rule commands the proxier needs for its jump rules and canary chains. One instance
// per IP family and per variant; every call goes through an Execer.
import { KubeProxyError } from '../../errors.ts';
import type { IPFamily } from '../../util/ip.ts';
import type { Execer, ExecResult } from '../exec.ts';

export type IptablesTable = 'filter' | 'nat' | 'mangle';
export type IptablesVariant = 'nft' | 'legacy';

export interface Iptables {
  readonly family: IPFamily;
  readonly variant: IptablesVariant;
  /**
   * iptables-restore --noflush [--counters] of a multi-table input. Each table is applied whole or
   * not at all, at its COMMIT line: tables committed before a failing one stay committed.
   */
  restore(input: string, opts?: { counters?: boolean }): Promise<void>;
  /** iptables-save output of one table. */
  save(table: IptablesTable): Promise<string>;
  /** Creates the chain; returns whether it already existed. */
  ensureChain(table: IptablesTable, chain: string): Promise<boolean>;
  /** -C then -I (prepend) or -A; returns whether it existed. */
  ensureRule(
    table: IptablesTable,
    chain: string,
    args: readonly string[],
    position: 'prepend' | 'append',
  ): Promise<boolean>;
  /** -C: whether the rule exists (a missing chain is "no"). */
  ruleExists(table: IptablesTable, chain: string, args: readonly string[]): Promise<boolean>;
  /** Deletes the rule; a missing rule (or chain) is not an error. */
  deleteRule(table: IptablesTable, chain: string, args: readonly string[]): Promise<void>;
  chainExists(table: IptablesTable, chain: string): Promise<boolean>;
  /** Flushes then deletes the chain; a missing chain is not an error. */
  deleteChain(table: IptablesTable, chain: string): Promise<void>;
}

/** A failed iptables command: the tool's stderr, its exit code and, for a restore, the input line it blamed. */
export class IptablesError extends KubeProxyError {
  readonly command: string;
  readonly exitCode: number;
  readonly stderr: string;
  /** 1-based line of the restore input that iptables-restore reported, when it reported one. */
  readonly line: number | undefined;
  constructor(command: string, result: ExecResult, line?: number) {
    const detail = result.stderr.trim() || result.stdout.trim();
    super(
      'KP_ERR_EXEC',
      `${command} exited ${result.code}${line !== undefined ? ` (input line ${line})` : ''}: ${detail}`,
    );
    this.name = 'IptablesError';
    this.command = command;
    this.exitCode = result.code;
    this.stderr = result.stderr;
    this.line = line;
  }

  /** iptables could not attempt the request (e.g. the xtables lock stayed taken): worth retrying. */
  get resourceProblem(): boolean {
    return this.exitCode === EXIT_RESOURCE_PROBLEM;
  }
}

/**
 * The input line iptables-restore blames. The wording differs by variant and by when the error is
 * found: "line 12 failed" (legacy commit), "Error occurred at line: 12" (parse), "line 12: CHAIN_DEL
 * failed" (nft commit), "COMMIT expected at line 12". iptables-nft reports a jump to a missing chain
 * at the table's COMMIT line rather than at the rule.
 */
export function restoreErrorLine(stderr: string): number | undefined {
  const m = /\bline:? ([1-9][0-9]*)\b/.exec(stderr);
  return m ? Number(m[1]) : undefined;
}

/** Upstream's WaitString and WaitSecondsValue: wait up to 5 s for the xtables lock. */
const WAIT = ['-w', '5'] as const;
/** iptables' status for "resource problem" (e.g. the lock could not be taken): never "not found". */
const EXIT_RESOURCE_PROBLEM = 4;
const TIMEOUT_MS = 300_000;
// A restore of a large cluster through iptables-nft can take minutes (measured here: over 5 min
// for 10,000 services x 10 endpoints); upstream does not time it out at all. Only a hung one is cut.
const RESTORE_TIMEOUT_MS = 30 * 60_000;

export function iptablesBinaries(
  family: IPFamily,
  variant: IptablesVariant,
): { iptables: string; restore: string; save: string } {
  const base = `${family === 'IPv6' ? 'ip6tables' : 'iptables'}-${variant}`;
  return { iptables: base, restore: `${base}-restore`, save: `${base}-save` };
}

export class IptablesCli implements Iptables {
  readonly family: IPFamily;
  readonly variant: IptablesVariant;
  readonly #exec: Execer;
  readonly #bin: { iptables: string; restore: string; save: string };

  constructor(exec: Execer, family: IPFamily, variant: IptablesVariant) {
    this.#exec = exec;
    this.family = family;
    this.variant = variant;
    this.#bin = iptablesBinaries(family, variant);
  }

  async restore(input: string, opts: { counters?: boolean } = {}): Promise<void> {
    const args = [...WAIT, '--noflush', ...(opts.counters ? ['--counters'] : [])];
    const r = await this.#exec.run(this.#bin.restore, args, { stdin: input, timeoutMs: RESTORE_TIMEOUT_MS });
    if (r.code !== 0) {
      throw new IptablesError(`${this.#bin.restore} ${args.join(' ')}`, r, restoreErrorLine(r.stderr));
    }
  }

  async save(table: IptablesTable): Promise<string> {
    const args = ['-t', table];
    const r = await this.#exec.run(this.#bin.save, args, { timeoutMs: TIMEOUT_MS });
    if (r.code !== 0) throw new IptablesError(`${this.#bin.save} ${args.join(' ')}`, r);
    return r.stdout;
  }

  async ensureChain(table: IptablesTable, chain: string): Promise<boolean> {
    const r = await this.#run('-N', table, chain);
    if (r.code === 0) return false;
    // As upstream: exit 1 from -N means "Chain already exists".
    if (r.code === 1) return true;
    throw this.#error('-N', table, chain, [], r);
  }

  async ensureRule(
    table: IptablesTable,
    chain: string,
    args: readonly string[],
    position: 'prepend' | 'append',
  ): Promise<boolean> {
    if (await this.#checkRule(table, chain, args)) return true;
    const op = position === 'prepend' ? '-I' : '-A';
    const r = await this.#run(op, table, chain, args);
    if (r.code !== 0) throw this.#error(op, table, chain, args, r);
    return false;
  }

  ruleExists(table: IptablesTable, chain: string, args: readonly string[]): Promise<boolean> {
    return this.#checkRule(table, chain, args);
  }

  async deleteRule(table: IptablesTable, chain: string, args: readonly string[]): Promise<void> {
    if (!(await this.#checkRule(table, chain, args))) return;
    const r = await this.#run('-D', table, chain, args);
    if (r.code !== 0) throw this.#error('-D', table, chain, args, r);
  }

  async chainExists(table: IptablesTable, chain: string): Promise<boolean> {
    // -S (as upstream) rather than -L: no reverse DNS, and exit 1 when the chain is missing.
    const r = await this.#run('-S', table, chain);
    if (r.code === 0) return true;
    if (r.code === 1) return false;
    throw this.#error('-S', table, chain, [], r);
  }

  async deleteChain(table: IptablesTable, chain: string): Promise<void> {
    const f = await this.#run('-F', table, chain);
    if (f.code === 1) return; // no such chain
    if (f.code !== 0) throw this.#error('-F', table, chain, [], f);
    const x = await this.#run('-X', table, chain);
    if (x.code === 0) return;
    // Removed concurrently between -F and -X: still "missing is not an error".
    if (x.code === 1 && /No chain\/target\/match by that name|does not exist/.test(x.stderr)) return;
    throw this.#error('-X', table, chain, [], x);
  }

  /** -C: exit 0 the rule exists, 1 it (or its chain) does not; anything else is a failure to check. */
  async #checkRule(table: IptablesTable, chain: string, args: readonly string[]): Promise<boolean> {
    const r = await this.#run('-C', table, chain, args);
    if (r.code === 0) return true;
    if (r.code === 1) return false;
    throw this.#error('-C', table, chain, args, r);
  }

  #run(op: string, table: IptablesTable, chain: string, args: readonly string[] = []): Promise<ExecResult> {
    return this.#exec.run(this.#bin.iptables, [...WAIT, op, chain, '-t', table, ...args], {
      timeoutMs: TIMEOUT_MS,
    });
  }

  #error(
    op: string,
    table: IptablesTable,
    chain: string,
    args: readonly string[],
    r: ExecResult,
  ): IptablesError {
    const cmd = [this.#bin.iptables, ...WAIT, op, chain, '-t', table, ...args].join(' ');
    return new IptablesError(cmd, r);
  }
}
