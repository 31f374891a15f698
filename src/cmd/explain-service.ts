// `kube-proxy-ts explain service NAMESPACE/NAME [--server HOST:PORT] [--output text|json]`: asks the
// running proxy (its metrics server, started with --debug-explain) what it believes about the
// Service, reads what the kernel holds for it (nft -a list table / iptables-save, in the proxy's
// mode) and prints both and their differences. Run as root in the node's network namespace.
// Every input is validated first; none reaches a command line (the commands' arguments are fixed).
import { splitHostPort } from '../config/addresses.ts';
import { KubeProxyError } from '../errors.ts';
import { parseNftListing } from '../explain/nft-listing.ts';
import type { FamilyBeliefs, PortBelief, ServiceBeliefs } from '../explain/service-beliefs.ts';
import { iptablesKernelView, type KernelView, nftKernelView } from '../explain/service-kernel.ts';
import { type Execer, ProcessExecer } from '../kernel/exec.ts';
import { detectIptablesVariant } from '../kernel/iptables/detect.ts';
import { IptablesCli } from '../kernel/iptables/iptables.ts';
import { NftCli, nftError } from '../kernel/nft/nftables.ts';
import { isDNSLabel } from '../model/names.ts';
import { parseIP } from '../util/ip.ts';

export const SERVICE_USAGE = `Usage:
  kube-proxy-ts explain service NAMESPACE/NAME [--server HOST:PORT] [--output text|json]

Asks the proxy running on this node (its metrics server at --server, default 127.0.0.1:10249; it
must run with --debug-explain) what it believes about the Service: its ports, the endpoints each
traffic policy chose and why the others were left out. Then reads what the kernel holds for the
Service (run as root in the node's network namespace) and lists every difference.
`;

export interface ServiceQuery {
  readonly namespace: string;
  readonly name: string;
  /** "host:port" ("[v6]:port"), validated. */
  readonly server: string;
  readonly output: 'text' | 'json';
}

export interface FamilyReport extends FamilyBeliefs {
  readonly kernel: KernelView;
}

export interface ServiceReport {
  readonly service: string;
  readonly server: string;
  readonly families: readonly FamilyReport[];
  /** Over every family: the kernel holds exactly what the proxy believes when this is 0. */
  readonly differences: number;
}

export interface ServiceDeps {
  readonly exec?: Execer;
  readonly fetch?: typeof fetch;
}

function invalid(message: string): KubeProxyError {
  return new KubeProxyError('KP_ERR_INVALID_FLAG', message);
}

export function parseServiceArgs(argv: readonly string[]): ServiceQuery {
  let target: string | undefined;
  const values = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith('-')) {
      if (target !== undefined) throw invalid(`unexpected argument ${JSON.stringify(a)}`);
      target = a;
      continue;
    }
    const m = /^--(server|output)(?:=(.*))?$/.exec(a);
    if (!m) throw invalid(`unknown argument ${JSON.stringify(a)}`);
    const v = m[2] ?? argv[++i];
    if (v === undefined) throw invalid(`flag needs an argument: --${m[1]}`);
    values.set(m[1]!, v);
  }
  const [namespace, name, ...rest] = (target ?? '').split('/');
  if (rest.length > 0 || !isDNSLabel(namespace) || !isDNSLabel(name))
    throw invalid('the service must be given as NAMESPACE/NAME (DNS labels)');
  const server = values.get('server') ?? '127.0.0.1:10249';
  const hp = splitHostPort(server);
  const port = hp && /^\d{1,5}$/.test(hp.port) ? Number(hp.port) : 0;
  const host = hp ? (hp.host === 'localhost' ? hp.host : parseIP(hp.host)?.text) : undefined;
  if (!host || port < 1 || port > 65535)
    throw invalid('--server must be IP:PORT ([IPv6]:PORT or localhost:PORT), port 1-65535');
  const output = values.get('output') ?? 'text';
  if (output !== 'text' && output !== 'json') throw invalid('--output must be text or json');
  return {
    namespace,
    name,
    server: host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`,
    output,
  };
}

/** The proxy's beliefs, from GET /debug/explain/service. */
export async function fetchBeliefs(q: ServiceQuery, deps: ServiceDeps = {}): Promise<ServiceBeliefs> {
  const url = `http://${q.server}/debug/explain/service?name=${encodeURIComponent(`${q.namespace}/${q.name}`)}`;
  let res: Response;
  try {
    res = await (deps.fetch ?? fetch)(url, { signal: AbortSignal.timeout(10_000) });
  } catch (err) {
    throw new KubeProxyError(
      'KP_ERR_HTTP',
      `cannot reach the proxy's metrics server at ${q.server} (${(err as Error).cause ?? (err as Error).message}); is kube-proxy-ts running with --debug-explain, and is --server its metrics address?`,
      { cause: err },
    );
  }
  const text = await res.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  if (res.status !== 200) {
    const e = body as { code?: string; message?: string } | undefined;
    throw new KubeProxyError(
      res.status === 404 && e?.code === 'KP_ERR_NOT_FOUND' ? 'KP_ERR_NOT_FOUND' : 'KP_ERR_HTTP',
      `the proxy at ${q.server} answered ${res.status}: ${e?.message ?? text.slice(0, 200).trim()}`,
    );
  }
  const b = body as ServiceBeliefs | undefined;
  if (!b || !Array.isArray(b.families))
    throw new KubeProxyError('KP_ERR_HTTP', `the proxy at ${q.server} answered something other than beliefs`);
  return b;
}

async function kernelOf(f: FamilyBeliefs, service: string, exec: Execer): Promise<KernelView> {
  const family = f.family === 'IPv6' ? 'ip6' : 'ip';
  if (f.mode === 'nftables') {
    if (!(await new NftCli(exec).hasTable(family, 'kube-proxy'))) return nftKernelView(f, service, undefined);
    const args = ['-a', 'list', 'table', family, 'kube-proxy'];
    const r = await exec.run('nft', args, { timeoutMs: 120_000 });
    if (r.code !== 0) throw nftError(r.stderr, `nft ${args.join(' ')}`);
    return nftKernelView(f, service, parseNftListing(r.stdout));
  }
  if (f.mode !== 'iptables')
    throw new KubeProxyError(
      'KP_ERR_NOT_IMPLEMENTED',
      `explain service does not read ${f.mode} mode's rules`,
    );
  const detected = await detectIptablesVariant(exec);
  const ipt = new IptablesCli(exec, f.family, detected.variant);
  return iptablesKernelView(f, service, `${await ipt.save('nat')}${await ipt.save('filter')}`);
}

export async function explainService(q: ServiceQuery, deps: ServiceDeps = {}): Promise<ServiceReport> {
  const beliefs = await fetchBeliefs(q, deps);
  const exec = deps.exec ?? new ProcessExecer();
  const families: FamilyReport[] = [];
  for (const f of beliefs.families) families.push({ ...f, kernel: await kernelOf(f, beliefs.service, exec) });
  return {
    service: beliefs.service,
    server: q.server,
    families,
    differences: families.reduce((n, f) => n + f.kernel.differences.length, 0),
  };
}

function hostPort(ip: string, port: number): string {
  return ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`;
}

function list(eps: readonly string[] | undefined): string {
  if (eps === undefined) return '(no chain)';
  return eps.length === 0 ? '(none)' : eps.join(', ');
}

function formatPort(p: PortBelief, kernel: KernelView, lines: string[]): void {
  const k = kernel.ports.find((x) => x.name === p.name);
  const where = [
    `${p.protocol} ${hostPort(p.clusterIP, p.port)}`,
    ...(p.nodePort ? [`nodePort ${p.nodePort}`] : []),
    ...p.externalIPs.map((ip) => `external ${hostPort(ip, p.port)}`),
    ...p.loadBalancerIPs.map((ip) => `load balancer ${hostPort(ip, p.port)}`),
  ].join(', ');
  lines.push(`  port ${p.name}: ${where}`);
  const verdict = (v: PortBelief['internal']) =>
    v.verdict === 'endpoints'
      ? `${v.policy} policy -> ${v.policy === 'Local' ? 'local' : 'cluster'} endpoints`
      : v.verdict === 'drop'
        ? `${v.policy} policy -> DROP (no endpoint on this node)`
        : `${v.policy} policy -> REJECT (no usable endpoint)`;
  lines.push(`    proxy believes:`);
  lines.push(`      internal traffic (ClusterIP): ${verdict(p.internal)}`);
  if (p.external)
    lines.push(`      external traffic (NodePort, external and LB IPs): ${verdict(p.external)}`);
  if (p.topology !== '') lines.push(`      topology: ${p.topology} (from the endpoints' hints)`);
  if (p.sessionAffinityTimeoutSeconds)
    lines.push(`      session affinity: ClientIP, ${p.sessionAffinityTimeoutSeconds}s`);
  if (p.chains.cluster || p.internal.policy === 'Cluster')
    lines.push(`      Cluster-policy endpoints: ${list(p.clusterEndpoints)}`);
  if (p.chains.local || p.internal.policy === 'Local' || p.external?.policy === 'Local')
    lines.push(`      Local-policy endpoints: ${list(p.localEndpoints)}`);
  for (const x of p.excluded)
    lines.push(
      `      left out of ${x.traffic === 'cluster' ? 'Cluster' : 'Local'}-policy traffic: ${x.endpoint}: ${x.reason}, ${x.detail}`,
    );
  lines.push(`    kernel holds:`);
  if (!k || (k.entries.length === 0 && k.chains.length === 0)) lines.push('      (nothing)');
  for (const e of k?.entries ?? []) lines.push(`      ${e.where}: ${e.key} : ${e.value}`);
  for (const c of k?.chains ?? []) lines.push(`      chain ${c}`);
  if (k?.clusterEndpoints) lines.push(`      Cluster-policy chain sends to: ${list(k.clusterEndpoints)}`);
  if (k?.localEndpoints) lines.push(`      Local-policy chain sends to: ${list(k.localEndpoints)}`);
}

export function formatServiceReport(rep: ServiceReport): string {
  const lines = [`service ${rep.service} (beliefs from the proxy at ${rep.server})`];
  for (const f of rep.families) {
    lines.push(
      `${f.family} (${f.mode} mode, node ${f.node.name}${f.node.zone ? `, zone ${f.node.zone}` : ''}):`,
    );
    if (f.pendingChanges > 0)
      lines.push(
        `  note: ${f.pendingChanges} change(s) received but not synced yet; the kernel may lag behind them`,
      );
    for (const p of f.ports) formatPort(p, f.kernel, lines);
    if (f.kernel.stale.chains.length + f.kernel.stale.entries.length > 0) {
      lines.push('  kernel holds for no believed port:');
      for (const e of f.kernel.stale.entries) lines.push(`    ${e.where}: ${e.key} : ${e.value}`);
      for (const c of f.kernel.stale.chains) lines.push(`    chain ${c}`);
    }
    lines.push(
      f.kernel.differences.length === 0
        ? '  differences: none (the kernel holds what the proxy believes)'
        : `  differences (${f.kernel.differences.length}):`,
    );
    for (const d of f.kernel.differences)
      lines.push(`    ${d.kind}: ${d.port ? `${d.port}: ` : ''}${d.detail}`);
  }
  return `${lines.join('\n')}\n`;
}
