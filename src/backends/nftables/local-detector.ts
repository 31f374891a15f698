// Tells pod traffic from other traffic, as nft match fragments (upstream pkg/proxy/util/localdetector.go).
import { parseCIDR } from '../../util/ip.ts';

export interface LocalDetector {
  /** nft match for traffic from local pods, or undefined when detection is off. */
  readonly ifLocal: string | undefined;
  readonly ifNotLocal: string | undefined;
}

export const NO_LOCAL_DETECTOR: LocalDetector = { ifLocal: undefined, ifNotLocal: undefined };

export function detectLocalByCIDR(cidr: string): LocalDetector {
  const parsed = parseCIDR(cidr);
  if (!parsed) throw new Error(`invalid CIDR ${cidr}`);
  const ipX = parsed.family === 'IPv4' ? 'ip' : 'ip6';
  return { ifLocal: `${ipX} saddr ${parsed.text}`, ifNotLocal: `${ipX} saddr != ${parsed.text}` };
}

export function detectLocalByBridgeInterface(name: string): LocalDetector {
  if (!/^[A-Za-z0-9_.-]{1,15}$/.test(name)) throw new Error(`invalid interface name ${name}`);
  return { ifLocal: `iifname ${name}`, ifNotLocal: `iifname != ${name}` };
}

export function detectLocalByInterfaceNamePrefix(prefix: string): LocalDetector {
  if (!/^[A-Za-z0-9_.-]{1,15}$/.test(prefix)) throw new Error(`invalid interface name prefix ${prefix}`);
  return { ifLocal: `iifname ${prefix}*`, ifNotLocal: `iifname != ${prefix}*` };
}
