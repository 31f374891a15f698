// The node's interfaces and addresses through iproute2, as far as IPVS mode needs them: the
// kube-ipvs0 dummy device that holds every service address (so the kernel accepts packets to
// them and IPVS sees them at LOCAL_IN), and the node's own addresses (NodePort virtual servers).
import { KubeProxyError } from '../errors.ts';
import { type IPFamily, parseIP } from '../util/ip.ts';
import type { Execer } from './exec.ts';

export interface InterfaceAddress {
  readonly dev: string;
  readonly address: string;
  readonly family: IPFamily;
}

export interface LinkState {
  readonly devices: ReadonlySet<string>;
  readonly addresses: readonly InterfaceAddress[];
}

export interface NodeLinks {
  /** Every interface and address of the network namespace (one `ip -j address show`). */
  state(): Promise<LinkState>;
  /** Creates a dummy device; true if it was there already. */
  ensureDummy(name: string): Promise<boolean>;
  /** Adds and removes host addresses (/32, /128) on a device, in one `ip -batch`. */
  changeAddresses(dev: string, add: readonly string[], del: readonly string[]): Promise<void>;
  /** Deletes a device; a missing one is not an error. Returns whether it existed. */
  deleteLink(name: string): Promise<boolean>;
}

const IFNAME = /^[A-Za-z0-9_.-]{1,15}$/;

function checkName(name: string): string {
  if (!IFNAME.test(name))
    throw new KubeProxyError('KP_ERR_EXEC', `invalid interface name ${JSON.stringify(name)}`);
  return name;
}

function hostPrefix(address: string): string {
  const ip = parseIP(address);
  if (!ip) throw new KubeProxyError('KP_ERR_EXEC', `not an IP address: ${JSON.stringify(address)}`);
  return `${ip.text}/${ip.family === 'IPv4' ? 32 : 128}`;
}

interface IpJsonLink {
  ifname?: string;
  addr_info?: { family?: string; local?: string }[];
}

/** `ip -j address show` output as devices and addresses. */
export function parseAddressJson(text: string): LinkState {
  const links = JSON.parse(text) as IpJsonLink[];
  const devices = new Set<string>();
  const addresses: InterfaceAddress[] = [];
  for (const link of links) {
    if (!link.ifname) continue;
    devices.add(link.ifname);
    for (const a of link.addr_info ?? []) {
      const ip = a.local !== undefined ? parseIP(a.local) : undefined;
      if (ip) addresses.push({ dev: link.ifname, address: ip.text, family: ip.family });
    }
  }
  return { devices, addresses };
}

export class IpRouteCli implements NodeLinks {
  readonly #exec: Execer;

  constructor(exec: Execer) {
    this.#exec = exec;
  }

  async state(): Promise<LinkState> {
    const r = await this.#exec.run('ip', ['-j', 'address', 'show']);
    if (r.code !== 0) throw new KubeProxyError('KP_ERR_EXEC', `ip address show: ${r.stderr.trim()}`);
    return parseAddressJson(r.stdout);
  }

  async ensureDummy(name: string): Promise<boolean> {
    const r = await this.#exec.run('ip', ['link', 'add', checkName(name), 'type', 'dummy']);
    if (r.code === 0) return false;
    if (/File exists/.test(r.stderr)) return true;
    throw new KubeProxyError('KP_ERR_EXEC', `ip link add ${name} type dummy: ${r.stderr.trim()}`);
  }

  async changeAddresses(dev: string, add: readonly string[], del: readonly string[]): Promise<void> {
    if (add.length === 0 && del.length === 0) return;
    checkName(dev);
    const lines = [
      ...del.map((a) => `address del ${hostPrefix(a)} dev ${dev}\n`),
      ...add.map((a) => `address add ${hostPrefix(a)} dev ${dev}\n`),
    ];
    // -force: the other lines still run when one fails (an address already gone).
    const r = await this.#exec.run('ip', ['-force', '-batch', '-'], { stdin: lines });
    if (r.code !== 0)
      throw new KubeProxyError('KP_ERR_EXEC', `ip -batch (addresses of ${dev}): ${r.stderr.trim()}`);
  }

  async deleteLink(name: string): Promise<boolean> {
    const r = await this.#exec.run('ip', ['link', 'del', checkName(name)]);
    if (r.code === 0) return true;
    if (/Cannot find device|does not exist/.test(r.stderr)) return false;
    throw new KubeProxyError('KP_ERR_EXEC', `ip link del ${name}: ${r.stderr.trim()}`);
  }
}

/** In-memory links for tests. */
export class FakeLinks implements NodeLinks {
  readonly devices = new Map<string, Set<string>>();

  constructor(initial: Record<string, string[]> = {}) {
    for (const [dev, addrs] of Object.entries(initial)) this.devices.set(dev, new Set(addrs));
  }

  async state(): Promise<LinkState> {
    const addresses: InterfaceAddress[] = [];
    for (const [dev, addrs] of this.devices)
      for (const a of addrs) {
        const ip = parseIP(a);
        if (ip) addresses.push({ dev, address: ip.text, family: ip.family });
      }
    return { devices: new Set(this.devices.keys()), addresses };
  }

  async ensureDummy(name: string): Promise<boolean> {
    if (this.devices.has(name)) return true;
    this.devices.set(name, new Set());
    return false;
  }

  async changeAddresses(dev: string, add: readonly string[], del: readonly string[]): Promise<void> {
    const addrs = this.devices.get(dev);
    if (!addrs) throw new KubeProxyError('KP_ERR_EXEC', `Cannot find device "${dev}"`);
    for (const a of del) addrs.delete(a);
    for (const a of add) addrs.add(a);
  }

  async deleteLink(name: string): Promise<boolean> {
    return this.devices.delete(name);
  }
}
