// The narrow interface to nftables: run a transaction atomically, or check it without applying.
import { KubeProxyError } from '../../errors.ts';
import type { Execer } from '../exec.ts';
import type { Family } from './objects.ts';
import type { Transaction } from './transaction.ts';

export interface Nftables {
  /** Applies the whole transaction atomically, or nothing of it. */
  run(tx: Transaction): Promise<void>;
  /** Asks nft whether the transaction would apply, changing nothing. */
  check(tx: Transaction): Promise<void>;
  /** Whether the table exists. */
  hasTable(family: Family, table: string): Promise<boolean>;
  /** Names of the chains, or of the sets (not maps), in the table; empty if the table does not exist. */
  list(family: Family, table: string, kind: 'chains' | 'sets'): Promise<string[]>;
}

/** Classifies nft's stderr into stable codes, as knftables does, instead of matching text at call sites. */
export function nftError(stderr: string, what: string): KubeProxyError {
  const first = stderr.trim().split('\n').slice(0, 6).join('\n');
  if (/No such file or directory/.test(stderr))
    return new KubeProxyError('KP_ERR_NFT_NOT_FOUND', `${what}: ${first}`);
  if (/File exists/.test(stderr)) return new KubeProxyError('KP_ERR_NFT_EXISTS', `${what}: ${first}`);
  return new KubeProxyError('KP_ERR_NFT_FAILED', `${what}: ${first}`);
}

const NFT_TIMEOUT_MS = 120_000;

/** Runs the `nft` binary through an Execer, feeding the script on stdin. */
export class NftCli implements Nftables {
  readonly #exec: Execer;
  readonly #binary: string;

  constructor(exec: Execer, binary = 'nft') {
    this.#exec = exec;
    this.#binary = binary;
  }

  async run(tx: Transaction): Promise<void> {
    await this.#apply(tx, ['-f', '-'], 'nft transaction');
  }

  async check(tx: Transaction): Promise<void> {
    await this.#apply(tx, ['--check', '-f', '-'], 'nft check');
  }

  async hasTable(family: Family, table: string): Promise<boolean> {
    const r = await this.#exec.run(this.#binary, ['list', 'table', family, table], {
      timeoutMs: NFT_TIMEOUT_MS,
    });
    if (r.code === 0) return true;
    if (/No such file or directory/.test(r.stderr)) return false;
    throw nftError(r.stderr, `nft list table ${family} ${table}`);
  }

  async list(family: Family, table: string, kind: 'chains' | 'sets'): Promise<string[]> {
    const args = ['--json', 'list', kind, family];
    const r = await this.#exec.run(this.#binary, args, { timeoutMs: NFT_TIMEOUT_MS });
    if (r.code !== 0) throw nftError(r.stderr, `nft ${args.join(' ')}`);
    const objectKey = kind === 'chains' ? 'chain' : 'set';
    const names: string[] = [];
    const parsed = JSON.parse(r.stdout) as { nftables?: Record<string, { name?: string; table?: string }>[] };
    for (const entry of parsed.nftables ?? []) {
      const obj = entry[objectKey];
      if (obj?.table === table && typeof obj.name === 'string') names.push(obj.name);
    }
    return names;
  }

  /** Applies a script given in chunks (benchmarks wrap the rendering to time it). */
  async runChunks(chunks: Iterable<string>): Promise<void> {
    const r = await this.#exec.run(this.#binary, ['-f', '-'], { stdin: chunks, timeoutMs: NFT_TIMEOUT_MS });
    if (r.code !== 0) throw nftError(r.stderr, 'nft transaction');
  }

  async #apply(tx: Transaction, args: string[], what: string): Promise<void> {
    if (tx.error) throw tx.error;
    if (tx.numOperations === 0) return;
    const r = await this.#exec.run(this.#binary, args, {
      stdin: tx.renderChunks(),
      timeoutMs: NFT_TIMEOUT_MS,
    });
    if (r.code !== 0) throw nftError(r.stderr, what);
  }
}
