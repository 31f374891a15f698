// The fake proxiers of every mode behind one shape, so upstream's packet-flow cases (which both
// of upstream's backends share) run once per mode without being copied: tests loop over
// FAKE_BACKENDS and encode the few per-mode differences upstream's own tables have.
import { test } from 'node:test';
import type { FakeIptables } from '../../src/kernel/iptables/fake.ts';
import type { Proxier } from '../../src/proxy/proxier.ts';
import type { IPFamily } from '../../src/util/ip.ts';
import { newFakeIptablesProxier } from './fake-iptables-proxier.ts';
import { newFakeProxier } from './fake-proxier.ts';
import type { Packet, TraceResult } from './nft-tracer.ts';

export type FakeMode = 'nftables' | 'iptables';

/** The options both fakes take; each mode keeps its own defaults for what is left out. */
export interface FakeBackendOverrides {
  readonly family?: IPFamily;
  /** null: no local detector. */
  readonly podCIDR?: string | null;
  readonly masqueradeAll?: boolean;
  readonly nodePortAddresses?: readonly string[];
  readonly localAddresses?: () => readonly string[];
  /** iptables only (--iptables-localhost-nodeports); the nftables fake ignores it. */
  readonly localhostNodePorts?: boolean;
}

export interface FakeBackend {
  readonly mode: FakeMode;
  readonly proxier: Proxier;
  tracer(nodeIPs?: string[]): { trace(p: Packet): TraceResult };
  /** iptables mode: the in-memory iptables, for the checks the tracer cannot make (conntrack state). */
  readonly iptables?: FakeIptables;
}

export interface FakeBackendFactory {
  readonly mode: FakeMode;
  /**
   * Where NodePorts are accepted when the test does not say: upstream's fake proxiers differ here
   * (nftables: the primary node IP; iptables: nil, i.e. every local address via `--dst-type LOCAL`).
   */
  readonly defaultNodePortAddresses: readonly string[];
  make(o?: FakeBackendOverrides): FakeBackend;
}

const defined = <T extends object>(o: T): Partial<T> =>
  Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;

export const FAKE_BACKENDS: readonly FakeBackendFactory[] = [
  {
    mode: 'nftables',
    defaultNodePortAddresses: ['primary'],
    make: ({ localhostNodePorts: _ignored, ...o } = {}) => {
      const fp = newFakeProxier(defined(o));
      return { mode: 'nftables', proxier: fp.proxier, tracer: (ips) => fp.tracer(ips) };
    },
  },
  {
    mode: 'iptables',
    defaultNodePortAddresses: [],
    make: (o = {}) => {
      const fp = newFakeIptablesProxier({ nodePortAddresses: [], ...defined(o) });
      return {
        mode: 'iptables',
        proxier: fp.proxier,
        iptables: fp.iptables,
        tracer: (ips) => fp.tracer(ips),
      };
    },
  },
];

/** Registers one test per mode, named `name [mode]`. */
export function testEachMode(name: string, fn: (fb: FakeBackendFactory) => Promise<void>): void {
  for (const fb of FAKE_BACKENDS) test(`${name} [${fb.mode}]`, () => fn(fb));
}
