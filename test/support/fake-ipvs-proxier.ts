// An IPVS proxier over the in-memory IPVS, ipsets, links and iptables, with a manual clock: tests
// drive syncs and the graceful-termination retries explicitly (the IPVS twin of fake-proxier.ts).
import { IpvsProxier, type IpvsProxierOptions } from '../../src/backends/ipvs/proxier.ts';
import { FakeIpSets } from '../../src/kernel/ipset/ipset.ts';
import { FakeIptables } from '../../src/kernel/iptables/fake.ts';
import { FakeIpvs } from '../../src/kernel/ipvs/fake.ts';
import { FakeLinks } from '../../src/kernel/links.ts';
import type { IPFamily } from '../../src/util/ip.ts';
import { fakeCoreOptions, joinTestNode } from './fake-proxier.ts';
import { NODE_IP } from './fixtures.ts';

export interface FakeIpvsProxier {
  readonly proxier: IpvsProxier;
  readonly ipvs: FakeIpvs;
  readonly ipsets: FakeIpSets;
  readonly links: FakeLinks;
  readonly iptables: FakeIptables;
}

export type FakeIpvsOverrides = Partial<
  Omit<IpvsProxierOptions, 'ipvs' | 'ipsets' | 'links' | 'iptables'>
> & {
  podCIDR?: string | null;
  ipvs?: FakeIpvs;
  ipsets?: FakeIpSets;
  links?: FakeLinks;
  iptables?: FakeIptables;
};

export function newFakeIpvsProxier(o: FakeIpvsOverrides = {}): FakeIpvsProxier {
  const family: IPFamily = o.family ?? 'IPv4';
  const ipvs = o.ipvs ?? new FakeIpvs();
  const ipsets = o.ipsets ?? new FakeIpSets();
  const links = o.links ?? new FakeLinks({ lo: ['127.0.0.1', '::1'], eth0: [NODE_IP] });
  const iptables = o.iptables ?? new FakeIptables({ family });
  const proxier = new IpvsProxier({
    ...fakeCoreOptions(family, o.podCIDR),
    scheduler: '',
    excludeCIDRs: [],
    ...o,
    ipvs,
    ipsets,
    links,
    iptables,
  });
  joinTestNode(proxier);
  return { proxier, ipvs, ipsets, links, iptables };
}
