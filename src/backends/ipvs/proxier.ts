// The IPVS proxier of one IP family: the shared proxier core driving the IPVS backend.

import type { IpSets } from '../../kernel/ipset/ipset.ts';
import type { Iptables } from '../../kernel/iptables/iptables.ts';
import type { Ipvs } from '../../kernel/ipvs/types.ts';
import type { NodeLinks } from '../../kernel/links.ts';
import type { LocalDetector } from '../../proxy/local-detector.ts';
import { type CoreOptions, Proxier } from '../../proxy/proxier.ts';
import { IpvsBackend } from './backend.ts';

export interface IpvsProxierOptions extends CoreOptions {
  readonly ipvs: Ipvs;
  readonly ipsets: IpSets;
  readonly links: NodeLinks;
  readonly iptables: Iptables;
  readonly scheduler: string;
  readonly excludeCIDRs: readonly string[];
  readonly masqueradeAll: boolean;
  readonly masqueradeBit: number;
  readonly localDetector: LocalDetector;
}

export class IpvsProxier extends Proxier {
  constructor(opts: IpvsProxierOptions) {
    super(
      opts,
      new IpvsBackend({
        family: opts.family,
        ipvs: opts.ipvs,
        ipsets: opts.ipsets,
        links: opts.links,
        iptables: opts.iptables,
        logger: opts.logger,
        scheduler: opts.scheduler,
        masqueradeAll: opts.masqueradeAll,
        masqueradeBit: opts.masqueradeBit,
        ifNotLocal: opts.localDetector.iptables.ifNotLocal,
        excludeCIDRs: opts.excludeCIDRs,
        ...(opts.clock !== undefined && { clock: opts.clock }),
      }),
    );
  }
}
