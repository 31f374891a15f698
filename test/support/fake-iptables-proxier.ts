// An iptables proxier wired to the in-memory iptables, a silent logger and a manual clock, so
// tests drive syncs explicitly (the iptables twin of fake-proxier.ts, with the same shape).
import { IptablesProxier, type IptablesProxierOptions } from '../../src/backends/iptables/proxier.ts';
import { FakeIptables } from '../../src/kernel/iptables/fake.ts';
import type { IPFamily } from '../../src/util/ip.ts';
import { fakeCoreOptions, joinTestNode } from './fake-proxier.ts';
import { NODE_IP } from './fixtures.ts';
import { IptablesTracer } from './iptables-tracer.ts';

export interface FakeIptablesProxier {
  readonly proxier: IptablesProxier;
  readonly iptables: FakeIptables;
  tracer(nodeIPs?: string[]): IptablesTracer;
}

export type FakeIptablesOverrides = Partial<Omit<IptablesProxierOptions, 'iptables'>> & {
  podCIDR?: string | null;
  iptables?: FakeIptables;
};

export function newFakeIptablesProxier(overrides: FakeIptablesOverrides = {}): FakeIptablesProxier {
  const family: IPFamily = overrides.family ?? 'IPv4';
  const iptables = overrides.iptables ?? new FakeIptables({ family });
  const proxier = new IptablesProxier({
    ...fakeCoreOptions(family, overrides.podCIDR),
    localhostNodePorts: true,
    monitorCanaries: false,
    ...overrides,
    iptables,
  });
  joinTestNode(proxier);
  return { proxier, iptables, tracer: (nodeIPs = [NODE_IP]) => new IptablesTracer(iptables, nodeIPs) };
}
