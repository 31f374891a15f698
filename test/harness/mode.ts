// Which proxy mode the kernel tests drive. The same cases run in every mode (scripts/test.sh runs
// the kernel suite once per mode and iptables variant); where upstream's modes differ (iptables
// mode neither rejects unknown ports nor drops unallocated ClusterIPs), a case says so with byMode().
export type ProxyMode = 'nftables' | 'iptables' | 'ipvs';
export type IptablesVariant = 'nft' | 'legacy';

function fromEnv<T extends string>(name: string, allowed: readonly T[], fallback: T): T {
  const v = process.env[name];
  if (v === undefined || v === '') return fallback;
  if (!(allowed as readonly string[]).includes(v))
    throw new Error(`${name}=${v}: expected one of ${allowed.join(', ')}`);
  return v as T;
}

export const PROXY_MODE: ProxyMode = fromEnv(
  'KPTS_TEST_PROXY_MODE',
  ['nftables', 'iptables', 'ipvs'],
  'nftables',
);
/** iptables mode: which variant the node "uses" (kubelet's hint chain is planted in it). */
export const IPTABLES_VARIANT: IptablesVariant = fromEnv(
  'KPTS_TEST_IPTABLES_VARIANT',
  ['nft', 'legacy'],
  'nft',
);

/** nftables mode: how rules reach the kernel (the proxy's default is netlink; cli runs `nft -f`). */
export const NFTABLES_WRITER: 'netlink' | 'cli' = fromEnv(
  'KPTS_TEST_NFTABLES_WRITER',
  ['netlink', 'cli'],
  'netlink',
);

/** The expected value for the mode under test. */
export function byMode<T>(values: { nftables: T; iptables: T; ipvs: T }): T {
  return values[PROXY_MODE];
}

/** IPVS and iptables modes program iptables (IPVS mode in its UML guest: iptables-legacy). */
export const USES_IPTABLES = PROXY_MODE === 'iptables' || PROXY_MODE === 'ipvs';

/** For test names: "nftables" or "iptables (legacy)". */
export function modeLabel(): string {
  if (PROXY_MODE === 'iptables') return `iptables (${IPTABLES_VARIANT})`;
  if (PROXY_MODE === 'ipvs') return 'ipvs';
  return NFTABLES_WRITER === 'cli' ? 'nftables (nft cli)' : PROXY_MODE;
}
