// ipset through its own tool, as upstream drives it, but one `ipset restore` per sync instead of
// one process per entry: the restore script creates missing sets and adds and deletes entries.
import { KubeProxyError } from '../../errors.ts';
import type { Execer } from '../exec.ts';

export type IPSetType = 'hash:ip' | 'hash:ip,port' | 'hash:ip,port,ip' | 'hash:ip,port,net' | 'bitmap:port';

export interface IPSetSpec {
  readonly name: string;
  readonly type: IPSetType;
  /** inet or inet6 (bitmap:port sets have no family). */
  readonly family: 'inet' | 'inet6';
}

export interface IpSets {
  /** The sets that exist and their entries, as `ipset save` prints them. */
  save(): Promise<Map<string, Set<string>>>;
  /** Runs a restore script (see restoreScript()); -exist: creating what exists and deleting what does not are no-ops. */
  restore(script: string): Promise<void>;
  destroy(name: string): Promise<void>;
}

export interface IPSetChange {
  readonly create: readonly IPSetSpec[];
  readonly add: ReadonlyMap<string, Iterable<string>>;
  readonly del: ReadonlyMap<string, Iterable<string>>;
}

// Entries and names reach the restore script as words: nothing else may get there.
const NAME = /^[A-Z0-9-]{1,31}$/;
const ENTRY = /^[0-9A-Fa-f.:,/a-z-]{1,200}$/;

/** upstream's ipset create arguments (hashsize 1024, maxelem 65536; bitmap:port range 0-65535). */
export function createLine(spec: IPSetSpec): string {
  if (!NAME.test(spec.name))
    throw new KubeProxyError('KP_ERR_IPSET', `invalid ipset name ${JSON.stringify(spec.name)}`);
  const opts =
    spec.type === 'bitmap:port' ? 'range 0-65535' : `family ${spec.family} hashsize 1024 maxelem 65536`;
  return `create ${spec.name} ${spec.type} ${opts}`;
}

/** The restore script of a change: creates, then deletions, then additions. */
export function restoreScript(change: IPSetChange): string {
  const lines: string[] = change.create.map(createLine);
  for (const [verb, entries] of [
    ['del', change.del],
    ['add', change.add],
  ] as const) {
    for (const [set, list] of entries) {
      if (!NAME.test(set))
        throw new KubeProxyError('KP_ERR_IPSET', `invalid ipset name ${JSON.stringify(set)}`);
      for (const e of list) {
        if (!ENTRY.test(e))
          throw new KubeProxyError('KP_ERR_IPSET', `invalid ipset entry ${JSON.stringify(e)}`);
        lines.push(`${verb} ${set} ${e}`);
      }
    }
  }
  return lines.length ? `${lines.join('\n')}\n` : '';
}

/** Sets and entries from `ipset save` output. */
export function parseSave(text: string): Map<string, Set<string>> {
  const sets = new Map<string, Set<string>>();
  for (const line of text.split('\n')) {
    const words = line.trim().split(/\s+/);
    if (words[0] === 'create' && words[1]) sets.set(words[1], new Set());
    else if (words[0] === 'add' && words[1] && words[2]) {
      const set = sets.get(words[1]) ?? new Set<string>();
      sets.set(words[1], set);
      set.add(words[2]);
    }
  }
  return sets;
}

export class IpsetCli implements IpSets {
  readonly #exec: Execer;

  constructor(exec: Execer) {
    this.#exec = exec;
  }

  async save(): Promise<Map<string, Set<string>>> {
    const r = await this.#exec.run('ipset', ['save']);
    if (r.code !== 0) throw new KubeProxyError('KP_ERR_IPSET', `ipset save: ${r.stderr.trim()}`);
    return parseSave(r.stdout);
  }

  async restore(script: string): Promise<void> {
    if (script === '') return;
    const r = await this.#exec.run('ipset', ['restore', '-exist'], { stdin: script });
    if (r.code !== 0) throw new KubeProxyError('KP_ERR_IPSET', `ipset restore: ${r.stderr.trim()}`);
  }

  async destroy(name: string): Promise<void> {
    const r = await this.#exec.run('ipset', ['destroy', name]);
    if (r.code !== 0 && !/does not exist/.test(r.stderr))
      throw new KubeProxyError('KP_ERR_IPSET', `ipset destroy ${name}: ${r.stderr.trim()}`);
  }
}

/** In-memory ipsets that read restore scripts as `ipset restore -exist` does, for tests. */
export class FakeIpSets implements IpSets {
  readonly sets = new Map<string, { type: string; entries: Set<string> }>();
  readonly scripts: string[] = [];

  async save(): Promise<Map<string, Set<string>>> {
    return new Map([...this.sets].map(([name, s]) => [name, new Set(s.entries)]));
  }

  async restore(script: string): Promise<void> {
    this.scripts.push(script);
    for (const [i, line] of script.split('\n').entries()) {
      const [verb, name, arg] = line.split(' ');
      if (!verb || !name) continue;
      const set = this.sets.get(name);
      if (verb === 'create') {
        if (!set) this.sets.set(name, { type: arg ?? '', entries: new Set() });
        continue;
      }
      if (!set)
        throw new KubeProxyError('KP_ERR_IPSET', `ipset restore: line ${i + 1}: set ${name} does not exist`);
      if (verb === 'add' && arg) set.entries.add(arg);
      else if (verb === 'del' && arg) set.entries.delete(arg);
    }
  }

  async destroy(name: string): Promise<void> {
    this.sets.delete(name);
  }
}
