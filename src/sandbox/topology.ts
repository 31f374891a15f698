// A throwaway Kubernetes node built from network namespaces, dual-stack (addresses.ts):
//
//   CLIENT ──veth── NODE ──veth── REMOTE NODE
//   198.19.0.1       198.19.0.2 (primary), 198.19.1.2 (secondary)      198.19.3.2
//   198.19.1.1       198.19.3.1 (link to the remote node)              kbr0 198.18.2.1 ── remote pods
//   198.19.100.2     kbr0 198.18.1.1 ── local pods
//   198.19.100.130   (and the IPv6 twins: fd00:19::2, fd00:10::1:1, ...)
//
// Pods hold their addresses as /32 and /128 and reach everything (each other included) through
// their node, so all pod traffic is routed by a node and local pod traffic passes the node's
// netfilter hooks: DNAT replies are un-NATed without br_netfilter. The node routes every pod
// address: local ones onto kbr0, remote ones to the remote node. The client routes the cluster,
// service, external IP and load balancer ranges to the node; the node's default route points back
// at the client, so packets for unprogrammed service addresses are still routable (they reach the
// forward/output hooks even when no rule rewrites them).
import { join } from 'node:path';
import {
  type AddressPlan,
  canonical,
  type Family,
  IPV4_PLAN,
  IPV6_PLAN,
  PLANS,
  planFor,
  v6Of,
} from './addresses.ts';
import { DEFAULT_PREFIX, deleteNamespaceSync, newSandboxId, register, sweepStale } from './cleanup.ts';
import { type RunOptions, type RunResult, run } from './exec.ts';
import {
  DEFAULT_PROBE_CONCURRENCY,
  DEFAULT_TIMEOUT_MS,
  type Distribution,
  type Flow,
  type FlowResult,
  summarize,
} from './flows.ts';
import { LineProcess } from './process.ts';
import { asProxyProcess, type ProxyProcess, REPO_ROOT, type SpawnProxyOptions, spawnProxy } from './proxy.ts';

export interface PodPort {
  protocol: 'TCP' | 'UDP' | 'SCTP';
  port: number;
}

export interface PodSpec {
  /** Echo servers answer with this name; also how tests address the pod's namespace. */
  name: string;
  /** The pod's IPv4 address, in 198.18.0.0/16. */
  ip: string;
  /** The pod's IPv6 address, in fd00:10::/64. Default: v6Of(ip). */
  ip6?: string;
  /** Ports the pod's echo server listens on. Default: 8080/TCP and 8053/UDP. None: no echo server. */
  ports?: PodPort[];
  /** Where the pod runs: on the node under test (default) or on the remote node. */
  node?: 'local' | 'remote';
}

export interface SandboxOptions {
  /** Namespace name prefix, 1-8 lowercase letters/digits. Default "kpt". */
  prefix?: string;
  pods: PodSpec[];
  /** An echo server named "host" in the node namespace itself: answers traffic that no rule rewrote. */
  hostPorts?: PodPort[];
  /** How long to wait for each echo server to listen. */
  readyTimeoutMs?: number;
}

export const DEFAULT_POD_PORTS: readonly PodPort[] = [
  { protocol: 'TCP', port: 8080 },
  { protocol: 'UDP', port: 8053 },
];

/** The name the node's own echo server answers with. */
export const HOST_ECHO_NAME = 'host';

const ECHO_SCRIPT = join(REPO_ROOT, 'src', 'sandbox', 'echo-server.ts');
const PROBE_SCRIPT = join(REPO_ROOT, 'src', 'sandbox', 'probe.ts');
const BRIDGE = 'kbr0';
const RESERVED = new Set(['node', 'client', 'remote', HOST_ECHO_NAME]);
const CLIENT_LINK = 'vclient';
const REMOTE_LINK = 'vremote';

export interface ProbeOptions {
  /** Flows in flight at once (default 100); 1 runs them one after another. */
  concurrency?: number;
}

export class Sandbox {
  readonly id: string;
  readonly nodeNs: string;
  readonly clientNs: string;
  readonly remoteNs: string;
  /** The IPv4 plan (kept for callers that predate dual-stack); see plans. */
  readonly plan: AddressPlan = IPV4_PLAN;
  readonly plans: Record<Family, AddressPlan> = PLANS;
  readonly pods: readonly PodSpec[];
  readonly hostPorts: readonly PodPort[];
  private readonly podNamespaces = new Map<string, string>();
  private readonly namespaces: string[] = [];
  private readonly children = new Set<LineProcess>();
  private readonly unregister: () => void;
  private closing: Promise<void> | undefined;

  constructor(id: string, pods: readonly PodSpec[], hostPorts: readonly PodPort[] = []) {
    this.id = id;
    this.pods = pods;
    this.hostPorts = hostPorts;
    this.nodeNs = `${id}-node`;
    this.clientNs = `${id}-client`;
    this.remoteNs = `${id}-remote`;
    pods.forEach((p, i) => {
      this.podNamespaces.set(p.name, `${id}-p${i}`);
    });
    this.unregister = register({ teardownSync: () => this.teardownSync() });
  }

  /** The namespace behind "node", "client", "remote", a pod name, or a namespace name of this sandbox. */
  ns(where: string): string {
    if (where === 'node') return this.nodeNs;
    if (where === 'client') return this.clientNs;
    if (where === 'remote') return this.remoteNs;
    const pod = this.podNamespaces.get(where);
    if (pod) return pod;
    if (this.namespaces.includes(where)) return where;
    throw new Error(`sandbox ${this.id}: no namespace for ${JSON.stringify(where)}`);
  }

  private pod(name: string): PodSpec {
    const pod = this.pods.find((p) => p.name === name);
    if (!pod) throw new Error(`sandbox ${this.id}: no pod ${name}`);
    return pod;
  }

  podIP(name: string, family: Family = 'IPv4'): string {
    return podAddress(this.pod(name), family);
  }

  /** The pod holding this address (either family), if any. */
  podByIP(ip: string): PodSpec | undefined {
    const want = canonical(ip);
    return this.pods.find((p) => podAddress(p, 'IPv4') === want || podAddress(p, 'IPv6') === want);
  }

  /**
   * The source a pod sees when the node masquerades traffic to it: the node's address on the
   * link the pod is reached through (the pod bridge, or the link to the remote node).
   */
  masqueradeSource(name: string, family: Family): string {
    const plan = this.plans[family];
    return this.pod(name).node === 'remote' ? plan.remoteLinkNodeIP : plan.podGateway;
  }

  exec(where: string, cmd: string, args: readonly string[], opts?: RunOptions): Promise<RunResult> {
    return run('ip', ['netns', 'exec', this.ns(where), cmd, ...args], opts);
  }

  /** Runs nft in the node namespace and returns its stdout. */
  async nft(args: readonly string[], input?: string): Promise<string> {
    return (await this.exec('node', 'nft', args, input === undefined ? {} : { input })).stdout;
  }

  /** Adds an address (a /32 or /128, on lo) to a namespace of this sandbox. */
  async addAddress(where: string, ip: string): Promise<void> {
    const len = ip.includes(':') ? 128 : 32;
    await ipCmd(
      this.ns(where),
      'addr',
      'add',
      `${ip}/${len}`,
      'dev',
      'lo',
      ...(len === 128 ? ['nodad'] : []),
    );
  }

  async removeAddress(where: string, ip: string): Promise<void> {
    const len = ip.includes(':') ? 128 : 32;
    await ipCmd(this.ns(where), 'addr', 'del', `${ip}/${len}`, 'dev', 'lo');
  }

  /** Forgets every connection the node tracks (isolates scenarios that reuse addresses). */
  async flushConntrack(): Promise<void> {
    for (const f of ['ipv4', 'ipv6'])
      await this.exec('node', 'conntrack', ['-F', '-f', f], { allowFail: true });
  }

  /** Tries all flows from one namespace, in one probe process (concurrently unless told otherwise). */
  async probe(from: string, flows: readonly Flow[], opts: ProbeOptions = {}): Promise<FlowResult[]> {
    if (flows.length === 0) return [];
    const input = opts.concurrency === undefined ? flows : { flows, concurrency: opts.concurrency };
    // The probe ends by itself once every flow has its answer or timeout: cut it only well after
    // that (flows with long timeouts, e.g. in the slow UML guest, outlast run()'s default).
    const waves = Math.ceil(flows.length / (opts.concurrency ?? DEFAULT_PROBE_CONCURRENCY));
    const longest = Math.max(...flows.map((f) => f.timeoutMs ?? DEFAULT_TIMEOUT_MS));
    const { stdout } = await this.exec(from, process.execPath, [PROBE_SCRIPT], {
      input: JSON.stringify(input),
      timeoutMs: 30_000 + waves * longest,
    });
    return JSON.parse(stdout) as FlowResult[];
  }

  /** Sends the same flow `count` times (each from a new source port) and tallies who answered. */
  async probeMany(from: string, flow: Flow, count: number): Promise<Distribution> {
    return summarize(
      await this.probe(
        from,
        Array.from({ length: count }, () => flow),
      ),
    );
  }

  /** Starts bin/kube-proxy-ts in the node namespace; close() stops it if the caller did not. */
  startProxy(args: readonly string[], opts: SpawnProxyOptions = {}): ProxyProcess {
    return asProxyProcess(this.track(spawnProxy(this.nodeNs, args, opts)));
  }

  /** Starts a long-running command in a namespace of this sandbox; close() kills it if still running. */
  spawn(where: string, cmd: string, args: readonly string[]): LineProcess {
    return this.track(
      new LineProcess(`${cmd} in ${where}`, 'ip', ['netns', 'exec', this.ns(where), cmd, ...args]),
    );
  }

  private track(p: LineProcess): LineProcess {
    this.children.add(p);
    void p.exited.then(() => this.children.delete(p));
    return p;
  }

  async setUp(readyTimeoutMs: number): Promise<void> {
    const all = [this.nodeNs, this.clientNs, this.remoteNs, ...this.podNamespaces.values()];
    // Recorded first: a half-created namespace must still be torn down.
    this.namespaces.push(...all);
    await batch(
      undefined,
      all.map((ns) => `netns add ${ns}`),
    );
    await Promise.all(all.map((ns) => batch(ns, ['link set lo up'])));
    await Promise.all(all.map((ns) => this.baseSysctls(ns)));
    await this.setUpNode();
    // The remote node's bridge must exist before its pods are plugged in.
    await this.setUpRemote();
    await Promise.all([this.setUpClient(), ...this.pods.map((p) => this.setUpPod(p))]);
    await Promise.all([
      ...this.pods.map((pod) => this.startEcho(pod.name, this.ns(pod.name), pod.ports, readyTimeoutMs)),
      this.hostPorts.length > 0
        ? this.startEcho(HOST_ECHO_NAME, this.nodeNs, this.hostPorts, readyTimeoutMs)
        : undefined,
    ]);
  }

  private async baseSysctls(ns: string): Promise<void> {
    const settings = [
      // Addresses are usable at once: no duplicate address detection on links we own.
      'net.ipv6.conf.all.accept_dad=0',
      'net.ipv6.conf.default.accept_dad=0',
      'net.ipv6.conf.all.disable_ipv6=0',
      'net.ipv6.conf.default.disable_ipv6=0',
      // A redirect would tell a pod to bypass its node (and the node's DNAT) for another pod.
      'net.ipv4.conf.all.accept_redirects=0',
      'net.ipv4.conf.default.accept_redirects=0',
      'net.ipv6.conf.all.accept_redirects=0',
      'net.ipv6.conf.default.accept_redirects=0',
    ];
    if (ns === this.nodeNs || ns === this.remoteNs) {
      settings.push(
        'net.ipv4.ip_forward=1',
        'net.ipv6.conf.all.forwarding=1',
        'net.ipv6.conf.default.forwarding=1',
        // Pod-to-pod traffic leaves kbr0 the way it came in; redirects would tell pods to bypass us.
        'net.ipv4.conf.all.send_redirects=0',
        'net.ipv4.conf.default.send_redirects=0',
        // Replies of DNATed flows may come back on another link than the client's route: no rp_filter.
        'net.ipv4.conf.all.rp_filter=0',
        'net.ipv4.conf.default.rp_filter=0',
        // REJECT answers with ICMP, which is rate limited per peer; tests send bursts on purpose.
        'net.ipv4.icmp_ratelimit=0',
        'net.ipv6.icmp.ratelimit=0',
      );
    }
    await run('ip', ['netns', 'exec', ns, 'sysctl', '-qw', ...settings]);
    if (ns === this.nodeNs || ns === this.remoteNs) {
      // If the host loaded br_netfilter, every new namespace starts with bridge-nf-call-* on: frames
      // crossing kbr0 would hit the IP hooks as *bridged* traffic, and a DNAT back to the sending
      // pod (hairpin) would be bridged out of its ingress port and lost. The sandbox wants plain
      // routing. -e: without br_netfilter the keys do not exist, which is just as good.
      await run('ip', [
        'netns',
        'exec',
        ns,
        'sysctl',
        '-qwe',
        'net.bridge.bridge-nf-call-iptables=0',
        'net.bridge.bridge-nf-call-ip6tables=0',
        'net.bridge.bridge-nf-call-arptables=0',
      ]);
    }
  }

  private async setUpNode(): Promise<void> {
    const { clientNs: client, remoteNs: remote } = this;
    const [v4, v6] = [IPV4_PLAN, IPV6_PLAN];
    const cmds = [
      `link add ${BRIDGE} type bridge`,
      `addr add ${v4.podGateway}/${v4.podGatewayPrefixLen} dev ${BRIDGE}`,
      `addr add ${v6.podGateway}/${v6.podGatewayPrefixLen} dev ${BRIDGE} nodad`,
      `link set ${BRIDGE} up`,
      // Created from inside the node namespace with the peer placed straight into the other one:
      // neither end ever exists in the host namespace.
      `link add ${CLIENT_LINK} type veth peer name eth0 netns ${client}`,
      `addr add ${v4.nodeIP}/${v4.linkPrefixLen} dev ${CLIENT_LINK}`,
      `addr add ${v4.secondaryNodeIP}/${v4.linkPrefixLen} dev ${CLIENT_LINK}`,
      `addr add ${v6.nodeIP}/${v6.linkPrefixLen} dev ${CLIENT_LINK} nodad`,
      `addr add ${v6.secondaryNodeIP}/${v6.linkPrefixLen} dev ${CLIENT_LINK} nodad`,
      `link set ${CLIENT_LINK} up`,
      `link add ${REMOTE_LINK} type veth peer name eth0 netns ${remote}`,
      `addr add ${v4.remoteLinkNodeIP}/${v4.linkPrefixLen} dev ${REMOTE_LINK}`,
      `addr add ${v6.remoteLinkNodeIP}/${v6.linkPrefixLen} dev ${REMOTE_LINK} nodad`,
      `link set ${REMOTE_LINK} up`,
      `route add default via ${v4.clientIP}`,
      `route add ::/0 via ${v6.clientIP}`,
    ];
    for (const pod of this.pods) {
      for (const plan of [v4, v6]) {
        const addr = podAddress(pod, plan.family);
        cmds.push(
          pod.node === 'remote'
            ? `route add ${addr} via ${plan.remoteNodeIP}`
            : `route add ${addr} dev ${BRIDGE}`,
        );
      }
    }
    await batch(this.nodeNs, cmds);
  }

  private async setUpClient(): Promise<void> {
    const [v4, v6] = [IPV4_PLAN, IPV6_PLAN];
    const cmds = [
      `addr add ${v4.clientIP}/${v4.linkPrefixLen} dev eth0`,
      `addr add ${v4.secondaryClientIP}/${v4.linkPrefixLen} dev eth0`,
      `addr add ${v6.clientIP}/${v6.linkPrefixLen} dev eth0 nodad`,
      `addr add ${v6.secondaryClientIP}/${v6.linkPrefixLen} dev eth0 nodad`,
      'link set eth0 up',
    ];
    for (const plan of [v4, v6]) {
      const len = plan.family === 'IPv4' ? 32 : 128;
      const nodad = plan.family === 'IPv6' ? ' nodad' : '';
      cmds.push(
        `addr add ${plan.externalClientIP}/${len} dev eth0${nodad}`,
        `addr add ${plan.blockedClientIP}/${len} dev eth0${nodad}`,
      );
      for (const range of [
        plan.clusterCIDR,
        plan.serviceCIDR,
        plan.externalIPRange,
        plan.loadBalancerIPRange,
      ]) {
        cmds.push(`route add ${range} via ${plan.nodeIP}`);
      }
    }
    await batch(this.clientNs, cmds);
  }

  private async setUpRemote(): Promise<void> {
    const [v4, v6] = [IPV4_PLAN, IPV6_PLAN];
    const cmds = [
      `addr add ${v4.remoteNodeIP}/${v4.linkPrefixLen} dev eth0`,
      `addr add ${v6.remoteNodeIP}/${v6.linkPrefixLen} dev eth0 nodad`,
      'link set eth0 up',
      `route add default via ${v4.remoteLinkNodeIP}`,
      `route add ::/0 via ${v6.remoteLinkNodeIP}`,
      `link add ${BRIDGE} type bridge`,
      `addr add ${v4.remotePodGateway}/${v4.podGatewayPrefixLen} dev ${BRIDGE}`,
      `addr add ${v6.remotePodGateway}/${v6.podGatewayPrefixLen} dev ${BRIDGE} nodad`,
      `link set ${BRIDGE} up`,
    ];
    for (const pod of this.pods) {
      if (pod.node !== 'remote') continue;
      cmds.push(`route add ${podAddress(pod, 'IPv4')} dev ${BRIDGE}`);
      cmds.push(`route add ${podAddress(pod, 'IPv6')} dev ${BRIDGE}`);
    }
    await batch(this.remoteNs, cmds);
  }

  private async setUpPod(pod: PodSpec): Promise<void> {
    const ns = this.ns(pod.name);
    const hostNs = pod.node === 'remote' ? this.remoteNs : this.nodeNs;
    const hostSide = `vp${this.pods.indexOf(pod)}`;
    const gw4 = pod.node === 'remote' ? IPV4_PLAN.remotePodGateway : IPV4_PLAN.podGateway;
    const gw6 = pod.node === 'remote' ? IPV6_PLAN.remotePodGateway : IPV6_PLAN.podGateway;
    await batch(hostNs, [
      `link add ${hostSide} type veth peer name eth0 netns ${ns}`,
      `link set ${hostSide} master ${BRIDGE} up`,
    ]);
    await batch(ns, [
      `addr add ${podAddress(pod, 'IPv4')}/32 dev eth0`,
      `addr add ${podAddress(pod, 'IPv6')}/128 dev eth0 nodad`,
      'link set eth0 up',
      `route add ${gw4} dev eth0 scope link`,
      `route add default via ${gw4} dev eth0`,
      `route add ${gw6} dev eth0`,
      `route add ::/0 via ${gw6} dev eth0`,
    ]);
  }

  private async startEcho(
    name: string,
    ns: string,
    ports: readonly PodPort[] | undefined,
    readyTimeoutMs: number,
  ): Promise<void> {
    const list = ports ?? DEFAULT_POD_PORTS;
    if (list.length === 0) return;
    const args = [ECHO_SCRIPT, '--name', name];
    for (const p of list) args.push(`--${p.protocol.toLowerCase()}`, String(p.port));
    const echo = this.track(
      new LineProcess(`echo-server ${name}`, 'ip', ['netns', 'exec', ns, process.execPath, ...args]),
    );
    await echo.waitForLine(/^ready$/, readyTimeoutMs);
  }

  /** Stops every process and deletes every namespace. Safe to call more than once. */
  close(): Promise<void> {
    this.closing ??= this.doClose();
    return this.closing;
  }

  private async doClose(): Promise<void> {
    try {
      await Promise.all(
        [...this.children].map((c) => {
          // Echo servers leave on stdin EOF; the proxy gets SIGTERM first.
          c.child.stdin?.end();
          return c.stop(3000);
        }),
      );
    } finally {
      this.teardownSync();
    }
  }

  private teardownSync(): void {
    this.unregister();
    for (const c of this.children) c.killSync();
    for (const ns of this.namespaces.splice(0).reverse()) deleteNamespaceSync(ns);
  }
}

function podAddress(pod: PodSpec, family: Family): string {
  return family === 'IPv4' ? canonical(pod.ip) : canonical(pod.ip6 ?? v6Of(pod.ip));
}

function ipCmd(ns: string, ...args: string[]): Promise<RunResult> {
  return run('ip', ['-n', ns, ...args]);
}

/** Runs iproute2 commands in one process (in namespace `ns`, or the caller's for `netns add`). */
function batch(ns: string | undefined, cmds: readonly string[]): Promise<RunResult> {
  return run('ip', [...(ns === undefined ? [] : ['-n', ns]), '-batch', '-'], {
    input: `${cmds.join('\n')}\n`,
  });
}

/** Builds a sandbox node with the given pods and waits until every echo server listens. */
export async function createSandbox(options: SandboxOptions): Promise<Sandbox> {
  const prefix = options.prefix ?? DEFAULT_PREFIX;
  const names = new Set<string>();
  const addresses = new Set<string>();
  for (const pod of options.pods) {
    for (const family of ['IPv4', 'IPv6'] as const) {
      const addr = podAddress(pod, family);
      if (planFor(addr).family !== family) throw new Error(`pod ${pod.name}: ${addr} is not ${family}`);
      if (addresses.has(addr)) throw new Error(`pod ${pod.name}: address ${addr} used twice`);
      addresses.add(addr);
    }
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(pod.name) || names.has(pod.name) || RESERVED.has(pod.name)) {
      throw new Error(
        `pod name ${JSON.stringify(pod.name)}: must be unique, no spaces, not one of ${[...RESERVED].join(', ')}`,
      );
    }
    names.add(pod.name);
  }
  await sweepStale(prefix);
  const sandbox = new Sandbox(newSandboxId(prefix), options.pods, options.hostPorts);
  try {
    await sandbox.setUp(options.readyTimeoutMs ?? 10_000);
  } catch (err) {
    await sandbox.close();
    throw err;
  }
  return sandbox;
}
