// An iptables proxier wired to the in-memory iptables, a silent logger and a manual clock, so
// tests drive syncs explicitly (the iptables twin of fake-proxier.ts, with the same shape).
import { IptablesProxier, type IptablesProxierOptions } from '../../src/backends/iptables/proxier.ts';
import { FakeIptables } from '../../src/kernel/iptables/fake.ts';
import { silentLogger } from '../../src/log/logger.ts';
import { detectLocalByCIDR, NO_LOCAL_DETECTOR } from '../../src/proxy/local-detector.ts';
import type { IPFamily } from '../../src/util/ip.ts';
import { frozenClock } from './fake-proxier.ts';
import { NODE_IP, NODE_NAME, node, POD_CIDR, SERVICE_CIDR } from './fixtures.ts';
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
  const podCIDR = overrides.podCIDR === undefined ? POD_CIDR : overrides.podCIDR;
  const proxier = new IptablesProxier({
    family,
    hostname: NODE_NAME,
    logger: silentLogger,
    minSyncPeriodMs: 0,
    syncPeriodMs: 30_000,
    masqueradeAll: false,
    masqueradeBit: 14,
    localDetector: podCIDR === null ? NO_LOCAL_DETECTOR : detectLocalByCIDR(podCIDR),
    // Upstream's fixtures accept NodePorts on the node's primary address.
    nodePortAddresses: ['primary'],
    localAddresses: () => [NODE_IP],
    localhostNodePorts: true,
    monitorCanaries: false,
    clock: frozenClock,
    ...overrides,
    iptables,
  });
  proxier.onNodeAdd(node(NODE_NAME, [NODE_IP]));
  proxier.onServiceCIDRsChanged([SERVICE_CIDR]);
  return { proxier, iptables, tracer: (nodeIPs = [NODE_IP]) => new IptablesTracer(iptables, nodeIPs) };
}
