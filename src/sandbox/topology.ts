// A throwaway Kubernetes node built from network namespaces:
//
//   CLIENT (198.19.0.1) --veth-- NODE (198.19.0.2; kbr0 198.18.1.1/24) --bridge/veth-- POD ...
//
// Pods hold their IP as a /32 and reach everything (each other included) through the node, so all
// pod traffic is routed by the node and passes its netfilter hooks: DNAT replies are un-NATed
// without br_netfilter. The node's default route points at the client, so packets for ClusterIPs
// are routable (and reach the forward/output hooks) even when no rule rewrites them.
import { join } from 'node:path';
import { type AddressPlan, IPV4_PLAN, planFor } from './addresses.ts';
import { DEFAULT_PREFIX, deleteNamespaceSync, newSandboxId, register, sweepStale } from './cleanup.ts';
import { type RunOptions, type RunResult, run } from './exec.ts';
import { type Distribution, type Flow, type FlowResult, summarize } from './flows.ts';
import { LineProcess } from './process.ts';
import { asProxyProcess, type ProxyProcess, REPO_ROOT, spawnProxy } from './proxy.ts';

export interface PodPort {
  protocol: 'TCP' | 'UDP';
  port: number;
}

export interface PodSpec {
  /** Echo servers answer with this name; also how tests address the pod's namespace. */
  name: string;
  ip: string;
  /** Ports the pod's echo server listens on. Default: 8080/TCP and 8053/UDP. */
  ports?: PodPort[];
}

export interface SandboxOptions {
  /** Namespace name prefix, 1-8 lowercase letters/digits. Default "kpt". */
  prefix?: string;
  pods: PodSpec[];
  /** How long to wait for each echo server to listen. */
  readyTimeoutMs?: number;
}

export const DEFAULT_POD_PORTS: readonly PodPort[] = [
  { protocol: 'TCP', port: 8080 },
  { protocol: 'UDP', port: 8053 },
];

const ECHO_SCRIPT = join(REPO_ROOT, 'src', 'sandbox', 'echo-server.ts');
const PROBE_SCRIPT = join(REPO_ROOT, 'src', 'sandbox', 'probe.ts');
const BRIDGE = 'kbr0';
const RESERVED = new Set(['node', 'client']);
const CLIENT_LINK = 'vclient';

export class Sandbox {
  readonly id: string;
  readonly nodeNs: string;
  readonly clientNs: string;
  readonly plan: AddressPlan = IPV4_PLAN;
  readonly pods: readonly PodSpec[];
  private readonly podNamespaces = new Map<string, string>();
  private readonly namespaces: string[] = [];
  private readonly children = new Set<LineProcess>();
  private readonly unregister: () => void;
  private closing: Promise<void> | undefined;

  constructor(id: string, pods: readonly PodSpec[]) {
    this.id = id;
    this.pods = pods;
    this.nodeNs = `${id}-node`;
    this.clientNs = `${id}-client`;
    pods.forEach((p, i) => {
      this.podNamespaces.set(p.name, `${id}-p${i}`);
    });
    this.unregister = register({ teardownSync: () => this.teardownSync() });
  }

  /** The namespace behind "node", "client", a pod name, or a namespace name of this sandbox. */
  ns(where: string): string {
    if (where === 'node') return this.nodeNs;
    if (where === 'client') return this.clientNs;
    const pod = this.podNamespaces.get(where);
    if (pod) return pod;
    if (this.namespaces.includes(where)) return where;
    throw new Error(`sandbox ${this.id}: no namespace for ${JSON.stringify(where)}`);
  }

  podIP(name: string): string {
    const pod = this.pods.find((p) => p.name === name);
    if (!pod) throw new Error(`sandbox ${this.id}: no pod ${name}`);
    return pod.ip;
  }

  exec(where: string, cmd: string, args: readonly string[], opts?: RunOptions): Promise<RunResult> {
    return run('ip', ['netns', 'exec', this.ns(where), cmd, ...args], opts);
  }

  /** Runs nft in the node namespace and returns its stdout. */
  async nft(args: readonly string[], input?: string): Promise<string> {
    return (await this.exec('node', 'nft', args, input === undefined ? {} : { input })).stdout;
  }

  /** Tries all flows concurrently from one namespace, in one probe process. */
  async probe(from: string, flows: readonly Flow[]): Promise<FlowResult[]> {
    if (flows.length === 0) return [];
    const { stdout } = await this.exec(from, process.execPath, [PROBE_SCRIPT], {
      input: JSON.stringify(flows),
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
  startProxy(args: readonly string[], opts: { bin?: string } = {}): ProxyProcess {
    return asProxyProcess(this.track(spawnProxy(this.nodeNs, args, opts.bin)));
  }

  private track(p: LineProcess): LineProcess {
    this.children.add(p);
    void p.exited.then(() => this.children.delete(p));
    return p;
  }

  async setUp(readyTimeoutMs: number): Promise<void> {
    await this.addNamespace(this.nodeNs);
    await this.addNamespace(this.clientNs);
    await Promise.all([...this.podNamespaces.values()].map((ns) => this.addNamespace(ns)));
    await this.setUpNode();
    await Promise.all(this.pods.map((pod, i) => this.setUpPod(pod, i)));
    await Promise.all(this.pods.map((pod) => this.startEcho(pod, readyTimeoutMs)));
  }

  private async addNamespace(ns: string): Promise<void> {
    // Recorded first: a half-created namespace must still be torn down.
    this.namespaces.push(ns);
    await run('ip', ['netns', 'add', ns]);
    await ip(ns, 'link', 'set', 'lo', 'up');
  }

  private async setUpNode(): Promise<void> {
    const { nodeNs: node, clientNs: client, plan } = this;
    await ip(node, 'link', 'add', BRIDGE, 'type', 'bridge');
    await ip(node, 'addr', 'add', `${plan.podGateway}/${plan.podGatewayPrefixLen}`, 'dev', BRIDGE);
    await ip(node, 'link', 'set', BRIDGE, 'up');
    // Created from inside the node namespace with the peer placed straight into the client one:
    // neither end ever exists in the host namespace.
    await ip(node, 'link', 'add', CLIENT_LINK, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', client);
    await ip(node, 'addr', 'add', `${plan.nodeIP}/${plan.linkPrefixLen}`, 'dev', CLIENT_LINK);
    await ip(node, 'link', 'set', CLIENT_LINK, 'up');
    await ip(client, 'addr', 'add', `${plan.clientIP}/${plan.linkPrefixLen}`, 'dev', 'eth0');
    await ip(client, 'link', 'set', 'eth0', 'up');
    await ip(client, 'route', 'add', plan.clusterCIDR, 'via', plan.nodeIP);
    await ip(client, 'route', 'add', plan.serviceCIDR, 'via', plan.nodeIP);
    await ip(node, 'route', 'add', 'default', 'via', plan.clientIP);
    await this.exec('node', 'sysctl', [
      '-qw',
      'net.ipv4.ip_forward=1',
      // Pod-to-pod traffic leaves kbr0 the way it came in; redirects would tell pods to bypass us.
      'net.ipv4.conf.all.send_redirects=0',
      'net.ipv4.conf.default.send_redirects=0',
      `net.ipv4.conf.${BRIDGE}.send_redirects=0`,
      // REJECT answers with ICMP, which is rate limited per peer; tests send bursts on purpose.
      'net.ipv4.icmp_ratelimit=0',
    ]);
    // If the host loaded br_netfilter, every new namespace starts with bridge-nf-call-* on: frames
    // crossing kbr0 would hit the IP hooks as *bridged* traffic, and a DNAT back to the sending
    // pod (hairpin) would be bridged out of its ingress port and lost. The sandbox wants plain
    // routing. -e: without br_netfilter the keys do not exist, which is just as good.
    await this.exec('node', 'sysctl', [
      '-qwe',
      'net.bridge.bridge-nf-call-iptables=0',
      'net.bridge.bridge-nf-call-ip6tables=0',
      'net.bridge.bridge-nf-call-arptables=0',
    ]);
  }

  private async setUpPod(pod: PodSpec, index: number): Promise<void> {
    const ns = this.ns(pod.name);
    const hostSide = `vp${index}`;
    const gw = planFor(pod.ip).podGateway;
    await ip(this.nodeNs, 'link', 'add', hostSide, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns);
    await ip(this.nodeNs, 'link', 'set', hostSide, 'master', BRIDGE, 'up');
    await ip(ns, 'addr', 'add', `${pod.ip}/32`, 'dev', 'eth0');
    await ip(ns, 'link', 'set', 'eth0', 'up');
    await ip(ns, 'route', 'add', gw, 'dev', 'eth0', 'scope', 'link');
    await ip(ns, 'route', 'add', 'default', 'via', gw, 'dev', 'eth0');
  }

  private async startEcho(pod: PodSpec, readyTimeoutMs: number): Promise<void> {
    const args = [ECHO_SCRIPT, '--name', pod.name];
    for (const p of pod.ports ?? DEFAULT_POD_PORTS)
      args.push(p.protocol === 'TCP' ? '--tcp' : '--udp', String(p.port));
    const echo = this.track(
      new LineProcess(`echo-server ${pod.name}`, 'ip', [
        'netns',
        'exec',
        this.ns(pod.name),
        process.execPath,
        ...args,
      ]),
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

function ip(ns: string, ...args: string[]): Promise<RunResult> {
  return run('ip', ['-n', ns, ...args]);
}

/** Builds a sandbox node with the given pods and waits until every echo server listens. */
export async function createSandbox(options: SandboxOptions): Promise<Sandbox> {
  const prefix = options.prefix ?? DEFAULT_PREFIX;
  const names = new Set<string>();
  for (const pod of options.pods) {
    planFor(pod.ip);
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(pod.name) || names.has(pod.name) || RESERVED.has(pod.name)) {
      throw new Error(
        `pod name ${JSON.stringify(pod.name)}: must be unique, no spaces, not "node" or "client"`,
      );
    }
    names.add(pod.name);
  }
  await sweepStale(prefix);
  const sandbox = new Sandbox(newSandboxId(prefix), options.pods);
  try {
    await sandbox.setUp(options.readyTimeoutMs ?? 10_000);
  } catch (err) {
    await sandbox.close();
    throw err;
  }
  return sandbox;
}
