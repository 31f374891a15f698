// The conntrack CLI: list UDP flows and delete flows by filter. Upstream moved to netlink; the CLI
// keeps us to one narrow, fakeable interface, with deletions batched per (destination, old backend).

import type { FlowFilter, UDPFlow } from '../conntrack/stale-flows.ts';
import { KubeProxyError } from '../errors.ts';
import type { IPFamily } from '../util/ip.ts';
import type { Execer } from './exec.ts';

export interface Conntrack {
  listUDP(family: IPFamily): Promise<UDPFlow[]>;
  /** Deletes matching flows; returns how many were deleted. */
  deleteUDP(family: IPFamily, filter: FlowFilter): Promise<number>;
}

/** Parses `conntrack -L` lines: the first src/dst/sport/dport are the original tuple, the second the reply. */
export function parseConntrackList(text: string): UDPFlow[] {
  const flows: UDPFlow[] = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith('udp')) continue;
    const fields: Record<string, string[]> = {};
    for (const m of line.matchAll(/\b(src|dst|sport|dport)=(\S+)/g)) {
      const list = fields[m[1]!] ?? [];
      list.push(m[2]!);
      fields[m[1]!] = list;
    }
    const [os, rs] = fields.src ?? [];
    const [od] = fields.dst ?? [];
    const [osp, rsp] = fields.sport ?? [];
    const [odp] = fields.dport ?? [];
    if (!os || !od || !rs || !osp || !odp || !rsp) continue;
    flows.push({
      origSrc: os,
      origDst: od,
      origSport: Number(osp),
      origDport: Number(odp),
      replySrc: rs,
      replySport: Number(rsp),
    });
  }
  return flows;
}

export class ConntrackCli implements Conntrack {
  readonly #exec: Execer;

  constructor(exec: Execer) {
    this.#exec = exec;
  }

  async listUDP(family: IPFamily): Promise<UDPFlow[]> {
    const r = await this.#exec.run('conntrack', [
      '-L',
      '-p',
      'udp',
      '-f',
      family === 'IPv4' ? 'ipv4' : 'ipv6',
    ]);
    if (r.code !== 0) throw new KubeProxyError('KP_ERR_EXEC', `conntrack -L failed: ${r.stderr.trim()}`);
    return parseConntrackList(r.stdout);
  }

  async deleteUDP(family: IPFamily, f: FlowFilter): Promise<number> {
    const args = ['-D', '-p', 'udp', '-f', family === 'IPv4' ? 'ipv4' : 'ipv6'];
    if (f.origDst !== undefined) args.push('--orig-dst', f.origDst);
    args.push(
      '--orig-port-dst',
      String(f.origDport),
      '--reply-src',
      f.replySrc,
      '--reply-port-src',
      String(f.replySport),
    );
    const r = await this.#exec.run('conntrack', args);
    const m = /(\d+) flow entries have been deleted/.exec(r.stderr + r.stdout);
    // conntrack exits 1 when nothing matched ("0 flow entries have been deleted"): that is success.
    if (r.code !== 0 && !(m && m[1] === '0')) {
      throw new KubeProxyError('KP_ERR_EXEC', `conntrack ${args.join(' ')} failed: ${r.stderr.trim()}`);
    }
    return m ? Number(m[1]) : 0;
  }
}
