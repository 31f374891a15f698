// `kube-proxy-ts explain packet --from IP --to IP:PORT [--proto tcp|udp|sctp] [--iif NAME]`: reads
// the live ruleset of the node's proxy mode (nft -a list table / iptables-save), runs the packet
// through it with the tracer and prints the rules that decided, the Service, the verdict and the
// masquerade decision. Run as root in the node's network namespace. Every input is validated
// before it is used; none of it reaches a command line (the commands' arguments are fixed).
import { networkInterfaces } from 'node:os';
import { errorMessage, KubeProxyError } from '../errors.ts';
import { IptablesTracer } from '../explain/iptables-tracer.ts';
import { parseNftListing } from '../explain/nft-listing.ts';
import { type Explanation, NftTracer, type Packet, type TraceStep } from '../explain/nft-tracer.ts';
import { type Execer, ProcessExecer } from '../kernel/exec.ts';
import { detectIptablesVariant } from '../kernel/iptables/detect.ts';
import { IptablesCli } from '../kernel/iptables/iptables.ts';
import { NftCli, nftError } from '../kernel/nft/nftables.ts';
import { parseIP } from '../util/ip.ts';
import { explainService, formatServiceReport, parseServiceArgs, SERVICE_USAGE } from './explain-service.ts';

export interface ExplainDeps {
  readonly exec?: Execer;
  readonly fetch?: typeof fetch;
  readonly out?: (s: string) => void;
  readonly localAddresses?: () => string[];
}

export interface PacketQuery {
  readonly packet: Required<Omit<Packet, 'iifname'>> & Packet;
  readonly mode: 'nftables' | 'iptables' | undefined;
  readonly output: 'text' | 'json';
  readonly nodeIPs: readonly string[] | undefined;
}

const USAGE = `Usage:
  kube-proxy-ts explain packet --from IP --to IP:PORT [--proto tcp|udp|sctp] [--iif NAME]
                               [--proxy-mode nftables|iptables] [--node-ip IP ...] [--output text|json]

Reads the live rules of this node (run as root in its network namespace) and shows why a new
connection from IP to IP:PORT goes where it goes. --proxy-mode defaults to the mode whose rules
exist (table ip/ip6 kube-proxy: nftables, else iptables). --node-ip: the addresses "fib ... type
local" / "--dst-type LOCAL" match (default: this namespace's addresses).
`;

function invalid(message: string): KubeProxyError {
  return new KubeProxyError('KP_ERR_INVALID_FLAG', message);
}

/** Parses and validates `explain packet` flags (pflag style: --flag value or --flag=value). */
export function parsePacketArgs(argv: readonly string[]): PacketQuery {
  const values = new Map<string, string[]>();
  const known = ['from', 'to', 'proto', 'iif', 'proxy-mode', 'node-ip', 'output'];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const m = /^--([a-z-]+)(?:=(.*))?$/.exec(a);
    if (!m || !known.includes(m[1]!)) throw invalid(`unknown argument ${JSON.stringify(a)}`);
    const v = m[2] ?? argv[++i];
    if (v === undefined) throw invalid(`flag needs an argument: --${m[1]}`);
    values.set(m[1]!, [...(values.get(m[1]!) ?? []), v]);
  }
  const one = (name: string) => values.get(name)?.at(-1);
  const from = parseIP(one('from') ?? '');
  if (!from) throw invalid('--from must be an IP address');
  const to = one('to') ?? '';
  const m = /^\[([0-9a-fA-F:.]+)\]:(\d{1,5})$/.exec(to) ?? /^([0-9.]+):(\d{1,5})$/.exec(to);
  const dest = m ? parseIP(m[1]!) : undefined;
  const port = m ? Number(m[2]) : 0;
  if (!dest || port < 1 || port > 65535) throw invalid('--to must be IP:PORT ([IPv6]:PORT), port 1-65535');
  if (dest.family !== from.family) throw invalid('--from and --to must be of the same IP family');
  const proto = (one('proto') ?? 'tcp').toLowerCase();
  if (proto !== 'tcp' && proto !== 'udp' && proto !== 'sctp')
    throw invalid('--proto must be tcp, udp or sctp');
  const iif = one('iif');
  if (iif !== undefined && !/^[A-Za-z0-9_.@:-]{1,15}$/.test(iif))
    throw invalid('--iif must be an interface name');
  const mode = one('proxy-mode');
  if (mode !== undefined && mode !== 'nftables' && mode !== 'iptables')
    throw invalid('--proxy-mode must be nftables or iptables');
  const output = one('output') ?? 'text';
  if (output !== 'text' && output !== 'json') throw invalid('--output must be text or json');
  const nodeIPs = values.get('node-ip')?.map((v) => {
    const ip = parseIP(v);
    if (!ip) throw invalid(`--node-ip ${JSON.stringify(v)} is not an IP address`);
    return ip.text;
  });
  return {
    packet: {
      sourceIP: from.text,
      destIP: dest.text,
      destPort: port,
      protocol: proto,
      ...(iif !== undefined && { iifname: iif }),
    },
    mode,
    output,
    nodeIPs,
  };
}

/** What `explain packet` reports, as JSON or text. */
export interface PacketReport {
  readonly packet: PacketQuery['packet'];
  readonly mode: 'nftables' | 'iptables';
  /** "dnat", "reject", "drop", or "not-handled" (no kube-proxy rule decided). */
  readonly verdict: 'dnat' | 'reject' | 'drop' | 'not-handled';
  readonly endpoints: readonly string[];
  /** Each endpoint's share of new connections (random balancing), absent for one or none. */
  readonly probability?: string;
  readonly masquerade: boolean;
  /** "namespace/name:port" of the Service whose rules decided, when they say. */
  readonly service?: string;
  readonly steps: readonly TraceStep[];
  readonly notes: readonly string[];
}

const CONNTRACK_NOTE =
  'conntrack: this is the first packet of a new connection; packets of established connections keep the endpoint chosen at their start';

export function report(query: PacketQuery, mode: 'nftables' | 'iptables', r: Explanation): PacketReport {
  const outputs = r.output === '' ? [] : r.output.split(', ');
  const verdict =
    outputs[0] === 'REJECT'
      ? 'reject'
      : outputs[0] === 'DROP'
        ? 'drop'
        : outputs.length
          ? 'dnat'
          : 'not-handled';
  const endpoints = verdict === 'dnat' ? outputs : [];
  let service: string | undefined;
  for (const s of r.steps) {
    const m = /^(?:service|local|external|firewall)-[A-Z0-9]+-([^/]+)\/([^/]+)\/[a-z]+\/(.*)$/.exec(s.chain);
    if (m) service = `${m[1]}/${m[2]}:${m[3]}`;
    else if (!service && s.comment) {
      // Comments: "ns/name:port" (nftables elements), "ns/name:port cluster IP" (iptables), …
      const c = /^([a-z0-9.-]+\/[a-z0-9.-]+(?::\S*)?)(?: |$)/.exec(s.comment);
      if (c) service = c[1]!;
    }
  }
  return {
    packet: query.packet,
    mode,
    verdict,
    endpoints,
    ...(endpoints.length > 1 && { probability: `1/${endpoints.length}` }),
    masquerade: verdict === 'dnat' && r.masq,
    ...(service !== undefined && { service }),
    steps: r.steps,
    notes: [...r.notes, CONNTRACK_NOTE],
  };
}

export function formatReport(rep: PacketReport): string {
  const p = rep.packet;
  const dst = p.destIP.includes(':') ? `[${p.destIP}]:${p.destPort}` : `${p.destIP}:${p.destPort}`;
  const lines = [
    `packet: ${p.protocol} ${p.sourceIP} -> ${dst}${p.iifname ? ` in on ${p.iifname}` : ''} (${rep.mode} mode)`,
    'rules that matched, in order:',
  ];
  for (const s of rep.steps) {
    const where = s.handle !== undefined ? `${s.chain} [handle ${s.handle}]` : s.chain;
    lines.push(`  ${where}: ${s.rule}${s.comment ? ` /* ${s.comment} */` : ''}`);
    lines.push(`      -> ${s.action}`);
  }
  if (rep.steps.length === 0) lines.push('  (none)');
  if (rep.service) lines.push(`service: ${rep.service}`);
  switch (rep.verdict) {
    case 'dnat':
      lines.push(
        rep.endpoints.length === 1
          ? `verdict: DNAT to ${rep.endpoints[0]}`
          : `verdict: DNAT to one of ${rep.endpoints.length} endpoints, each with probability ${rep.probability}: ${rep.endpoints.join(', ')}`,
      );
      lines.push(
        `masquerade: ${rep.masquerade ? 'yes, for at least one endpoint (it sees the node address; a pod reaching itself is masqueraded only towards itself)' : 'no (the endpoint sees the client address)'}`,
      );
      break;
    case 'reject':
      lines.push('verdict: REJECT (the client gets an ICMP unreachable / TCP reset)');
      break;
    case 'drop':
      lines.push('verdict: DROP (the client hears nothing)');
      break;
    default:
      lines.push(
        'verdict: not handled by kube-proxy (the node routes or delivers it as it would without kube-proxy)',
      );
  }
  for (const n of rep.notes) lines.push(`note: ${n}`);
  return `${lines.join('\n')}\n`;
}

function localAddresses(): string[] {
  return Object.values(networkInterfaces())
    .flat()
    .filter((a) => a !== undefined)
    .map((a) => a.address);
}

/** Runs `explain packet` against the live kernel. */
export async function explainPacket(query: PacketQuery, deps: ExplainDeps = {}): Promise<PacketReport> {
  const exec = deps.exec ?? new ProcessExecer();
  const family = query.packet.destIP.includes(':') ? 'ip6' : 'ip';
  const nodeIPs = query.nodeIPs ?? (deps.localAddresses ?? localAddresses)();
  let mode = query.mode;
  if (mode === undefined)
    mode = (await new NftCli(exec).hasTable(family, 'kube-proxy')) ? 'nftables' : 'iptables';
  if (mode === 'nftables') {
    const args = ['-a', 'list', 'table', family, 'kube-proxy'];
    const r = await exec.run('nft', args, { timeoutMs: 120_000 });
    if (r.code !== 0) throw nftError(r.stderr, `nft ${args.join(' ')}`);
    const tracer = new NftTracer(parseNftListing(r.stdout), family, nodeIPs);
    return report(query, mode, tracer.explain(query.packet));
  }
  const detected = await detectIptablesVariant(exec);
  const ipt = new IptablesCli(exec, family === 'ip' ? 'IPv4' : 'IPv6', detected.variant);
  const save = `${await ipt.save('nat')}${await ipt.save('filter')}`;
  // No input interface and a source of the node's own (or loopback): the node sends it itself.
  const source = parseIP(query.packet.sourceIP)?.text;
  const local =
    query.packet.iifname === undefined &&
    (source === '127.0.0.1' || source === '::1' || nodeIPs.some((ip) => parseIP(ip)?.text === source));
  const { result, matches } = new IptablesTracer(save, nodeIPs, {
    origin: local ? 'local' : 'any',
  }).traceWithMatches(query.packet);
  const steps = matches.map((m) => {
    const [, chain = '', rest = ''] = /^-A (\S+) (.*)$/.exec(m) ?? [];
    const target = / -[jg] (\S+)/.exec(rest)?.[1] ?? '';
    const comment = /--comment (?:"([^"]*)"|(\S+))/.exec(rest);
    return {
      ...(comment && { comment: comment[1] ?? comment[2]! }),
      chain,
      rule: m,
      action: target === 'DNAT' || /^[A-Z]+$/.test(target) ? target : `jump ${target}`,
    };
  });
  return report(query, 'iptables', { ...result, steps, notes: [] });
}

export async function explainMain(argv: readonly string[], deps: ExplainDeps = {}): Promise<number> {
  const out = deps.out ?? ((s: string) => process.stdout.write(s));
  const [what, ...rest] = argv;
  const usage = what === 'service' ? SERVICE_USAGE : what === 'packet' ? USAGE : `${USAGE}\n${SERVICE_USAGE}`;
  const known = what === 'packet' || what === 'service';
  if (!known || rest.includes('--help') || rest.includes('-h')) {
    (known || what === undefined || what === '--help' ? out : (s: string) => process.stderr.write(s))(usage);
    return known || what === '--help' ? 0 : 1;
  }
  try {
    if (what === 'service') {
      const query = parseServiceArgs(rest);
      const rep = await explainService(query, deps);
      out(query.output === 'json' ? `${JSON.stringify(rep, null, 2)}\n` : formatServiceReport(rep));
      return 0;
    }
    const query = parsePacketArgs(rest);
    const rep = await explainPacket(query, deps);
    out(query.output === 'json' ? `${JSON.stringify(rep, null, 2)}\n` : formatReport(rep));
    return 0;
  } catch (err) {
    process.stderr.write(`Error: ${errorMessage(err)}\n`);
    if (err instanceof KubeProxyError && err.code === 'KP_ERR_INVALID_FLAG')
      process.stderr.write(`\n${usage}`);
    return 1;
  }
}
