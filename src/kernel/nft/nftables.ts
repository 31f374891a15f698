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
  /** Names of the chains, sets or maps in the table; empty if the table does not exist. */
  list(family: Family, table: string, kind: 'chains' | 'sets' | 'maps'): Promise<string[]>;
  /** The elements of a map as the kernel holds them, including those the data path added. */
  listElements(family: Family, table: string, map: string): Promise<KernelElement[]>;
  /**
   * Drift checks: the rule count of every chain and the element count of every set and map of a
   * table as the kernel holds it now; undefined when the table does not exist. With `unless`, a
   * writer that can read nf_tables' generation (bumped by every commit in the network namespace)
   * answers `{ generation, unchanged: true }` without counting when it still equals `unless`.
   */
  tableCounts(family: Family, table: string, unless?: number): Promise<TableCounts | undefined>;
  /** Releases what the implementation holds open (a netlink socket). */
  close?(): void;
}

/** What tableCounts() found. */
export interface TableCounts {
  /** nf_tables' generation when counted (netlink: its low 16 bits); absent when unknown (nft binary). */
  readonly generation?: number;
  /** True: the generation still equals the one asked about, nothing was counted. */
  readonly unchanged?: boolean;
  /** Rules per chain. */
  readonly chains: ReadonlyMap<string, number>;
  /** Elements per named set or map. */
  readonly sets: ReadonlyMap<string, number>;
}

/** A map element read back from the kernel; fields are nft's text forms. */
export interface KernelElement {
  readonly key: readonly string[];
  readonly value: readonly string[];
  /** Seconds until the element expires, for maps with timeouts. */
  readonly expiresSeconds?: number;
}

type JsonValue =
  | string
  | number
  | { concat?: (string | number)[]; elem?: { val?: JsonValue; expires?: number } };

function jsonFields(v: JsonValue | undefined): string[] {
  if (typeof v === 'string' || typeof v === 'number') return [String(v)];
  if (v?.concat) return v.concat.map(String);
  if (v?.elem) return jsonFields(v.elem.val);
  return [];
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
    // `list tables`, not `list table`: the latter prints every rule (seconds at 10,000 services).
    const args = ['--json', 'list', 'tables', family];
    const r = await this.#exec.run(this.#binary, args, { timeoutMs: NFT_TIMEOUT_MS });
    if (r.code !== 0) throw nftError(r.stderr, `nft ${args.join(' ')}`);
    const parsed = JSON.parse(r.stdout) as { nftables?: { table?: { family?: string; name?: string } }[] };
    return (parsed.nftables ?? []).some((e) => e.table?.family === family && e.table.name === table);
  }

  async list(family: Family, table: string, kind: 'chains' | 'sets' | 'maps'): Promise<string[]> {
    // --terse: names only, without the elements of every set.
    const args = ['--json', '--terse', 'list', kind, family];
    const r = await this.#exec.run(this.#binary, args, { timeoutMs: NFT_TIMEOUT_MS });
    if (r.code !== 0) throw nftError(r.stderr, `nft ${args.join(' ')}`);
    const objectKey = kind.slice(0, -1);
    const names: string[] = [];
    const parsed = JSON.parse(r.stdout) as { nftables?: Record<string, { name?: string; table?: string }>[] };
    for (const entry of parsed.nftables ?? []) {
      const obj = entry[objectKey];
      if (obj?.table === table && typeof obj.name === 'string') names.push(obj.name);
    }
    return names;
  }

  async listElements(family: Family, table: string, map: string): Promise<KernelElement[]> {
    const args = ['--json', 'list', 'map', family, table, map];
    const r = await this.#exec.run(this.#binary, args, { timeoutMs: NFT_TIMEOUT_MS });
    if (r.code !== 0) throw nftError(r.stderr, `nft ${args.join(' ')}`);
    const parsed = JSON.parse(r.stdout) as { nftables?: { map?: { elem?: [JsonValue, JsonValue][] } }[] };
    const out: KernelElement[] = [];
    for (const entry of parsed.nftables ?? []) {
      for (const [k, v] of entry.map?.elem ?? []) {
        const expires = typeof k === 'object' ? k.elem?.expires : undefined;
        out.push({
          key: jsonFields(k),
          value: jsonFields(v),
          ...(expires !== undefined && { expiresSeconds: expires }),
        });
      }
    }
    return out;
  }

  async tableCounts(family: Family, table: string): Promise<TableCounts | undefined> {
    // `list table` prints every rule and element: seconds at 10,000 services. The netlink writer
    // (the default) skips it when nothing was committed since the last check.
    const args = ['--json', 'list', 'table', family, table];
    const r = await this.#exec.run(this.#binary, args, { timeoutMs: NFT_TIMEOUT_MS });
    if (r.code !== 0) {
      if (/No such file or directory/.test(r.stderr)) return undefined;
      throw nftError(r.stderr, `nft ${args.join(' ')}`);
    }
    return countsFromJson(r.stdout, family, table);
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

/** Counts rules per chain and elements per set of `nft --json list table` output. */
export function countsFromJson(json: string, family: Family, table: string): TableCounts {
  type Obj = { family?: string; table?: string; name?: string; chain?: string; elem?: unknown[] };
  const parsed = JSON.parse(json) as { nftables?: Record<string, Obj>[] };
  const chains = new Map<string, number>();
  const sets = new Map<string, number>();
  for (const entry of parsed.nftables ?? []) {
    const [kind, obj] = Object.entries(entry)[0] ?? [];
    if (!obj || obj.family !== family || obj.table !== table) continue;
    if (kind === 'chain' && obj.name !== undefined) chains.set(obj.name, chains.get(obj.name) ?? 0);
    else if (kind === 'rule' && obj.chain !== undefined)
      chains.set(obj.chain, (chains.get(obj.chain) ?? 0) + 1);
    else if ((kind === 'set' || kind === 'map') && obj.name !== undefined)
      sets.set(obj.name, obj.elem?.length ?? 0);
  }
  return { chains, sets };
}
