// Tells pod traffic from other traffic (upstream pkg/proxy/util/localdetector.go), rendered for
// every backend: nft match fragments and iptables match arguments describe the same test.
import { KubeProxyError } from '../errors.ts';
import { parseCIDR } from '../util/ip.ts';

export interface NftLocalMatch {
  /** nft match for traffic from local pods, or undefined when detection is off. */
  readonly ifLocal: string | undefined;
  readonly ifNotLocal: string | undefined;
}

export interface IptablesLocalMatch {
  /** iptables arguments matching traffic from local pods, or undefined when detection is off. */
  readonly ifLocal: readonly string[] | undefined;
  readonly ifNotLocal: readonly string[] | undefined;
}

export interface LocalDetector {
  readonly nft: NftLocalMatch;
  readonly iptables: IptablesLocalMatch;
}

export const NO_LOCAL_DETECTOR: LocalDetector = {
  nft: { ifLocal: undefined, ifNotLocal: undefined },
  iptables: { ifLocal: undefined, ifNotLocal: undefined },
};

// Interface names reach nft scripts and iptables command lines: only what Linux allows in a name.
const IFNAME = /^[A-Za-z0-9_.-]{1,15}$/;

export function detectLocalByCIDR(cidr: string): LocalDetector {
  const parsed = parseCIDR(cidr);
  if (!parsed) throw new KubeProxyError('KP_ERR_INVALID_FLAG', `invalid CIDR ${cidr}`);
  const ipX = parsed.family === 'IPv4' ? 'ip' : 'ip6';
  return {
    nft: { ifLocal: `${ipX} saddr ${parsed.text}`, ifNotLocal: `${ipX} saddr != ${parsed.text}` },
    iptables: { ifLocal: ['-s', parsed.text], ifNotLocal: ['!', '-s', parsed.text] },
  };
}

export function detectLocalByBridgeInterface(name: string): LocalDetector {
  if (!IFNAME.test(name)) throw new KubeProxyError('KP_ERR_INVALID_FLAG', `invalid interface name ${name}`);
  return {
    nft: { ifLocal: `iifname ${name}`, ifNotLocal: `iifname != ${name}` },
    iptables: { ifLocal: ['-i', name], ifNotLocal: ['!', '-i', name] },
  };
}

export function detectLocalByInterfaceNamePrefix(prefix: string): LocalDetector {
  if (!IFNAME.test(prefix))
    throw new KubeProxyError('KP_ERR_INVALID_FLAG', `invalid interface name prefix ${prefix}`);
  return {
    nft: { ifLocal: `iifname ${prefix}*`, ifNotLocal: `iifname != ${prefix}*` },
    iptables: { ifLocal: ['-i', `${prefix}+`], ifNotLocal: ['!', '-i', `${prefix}+`] },
  };
}
