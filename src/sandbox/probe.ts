// Runs inside a namespace and tries a batch of flows concurrently, printing one JSON array of
// FlowResult. Batching matters: starting node costs far more than a flow.
//
//   ip netns exec NS node src/sandbox/probe.ts '[{"proto":"tcp","dst":"198.19.16.10","port":80}]'
//   (or the same JSON on stdin)
import { createSocket } from 'node:dgram';
import { connect, isIPv6 } from 'node:net';
import { text } from 'node:stream/consumers';
import { DEFAULT_TIMEOUT_MS, type Flow, type FlowResult, parseEcho } from './flows.ts';

const CONCURRENCY = 100;
// Errors that mean "something on the path refused this flow" (ICMP unreachable or a TCP RST).
const REJECT_CODES = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ECONNRESET']);

function classify(err: NodeJS.ErrnoException, ms: number): FlowResult {
  const code = err.code ?? err.message;
  return { outcome: REJECT_CODES.has(code) ? 'reject' : 'error', code, ms };
}

function fromReply(reply: string, ms: number): FlowResult {
  const echo = parseEcho(reply);
  return echo
    ? { outcome: 'answer', ...echo, ms }
    : { outcome: 'error', code: `BAD_REPLY ${JSON.stringify(reply)}`, ms };
}

function probeTcp(flow: Flow, timeoutMs: number): Promise<FlowResult> {
  const start = performance.now();
  const elapsed = (): number => Math.round(performance.now() - start);
  return new Promise((resolve) => {
    let data = '';
    let connected = false;
    const sock = connect({ host: flow.dst, port: flow.port });
    const finish = (r: FlowResult): void => {
      clearTimeout(timer);
      sock.destroy();
      resolve(r);
    };
    const timer = setTimeout(() => {
      finish(
        connected
          ? { outcome: 'error', code: 'NO_REPLY', ms: elapsed() }
          : { outcome: 'drop', ms: elapsed() },
      );
    }, timeoutMs);
    sock.setEncoding('utf8');
    sock.on('connect', () => {
      connected = true;
    });
    sock.on('data', (chunk: string) => {
      data += chunk;
    });
    sock.on('end', () => finish(fromReply(data, elapsed())));
    sock.on('error', (err) => {
      // A reset after the handshake is a broken backend, not a refusal.
      const r = classify(err, elapsed());
      finish(connected && r.outcome === 'reject' ? { ...r, outcome: 'error' } : r);
    });
  });
}

function probeUdp(flow: Flow, timeoutMs: number): Promise<FlowResult> {
  const start = performance.now();
  const elapsed = (): number => Math.round(performance.now() - start);
  return new Promise((resolve) => {
    // A connected socket is what turns an ICMP port-unreachable into ECONNREFUSED.
    const sock = createSocket(isIPv6(flow.dst) ? 'udp6' : 'udp4');
    const finish = (r: FlowResult): void => {
      clearTimeout(timer);
      sock.close();
      resolve(r);
    };
    const timer = setTimeout(() => finish({ outcome: 'drop', ms: elapsed() }), timeoutMs);
    sock.on('message', (msg) => finish(fromReply(msg.toString('utf8'), elapsed())));
    sock.on('error', (err) => finish(classify(err, elapsed())));
    sock.connect(flow.port, flow.dst, () => sock.send('probe\n'));
  });
}

export async function runFlows(flows: readonly Flow[]): Promise<FlowResult[]> {
  const results: FlowResult[] = new Array(flows.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < flows.length) {
      const i = next++;
      const flow = flows[i]!;
      const timeoutMs = flow.timeoutMs ?? DEFAULT_TIMEOUT_MS;
      results[i] = await (flow.proto === 'udp' ? probeUdp(flow, timeoutMs) : probeTcp(flow, timeoutMs));
    }
  };
  await Promise.all(Array.from({ length: Math.min(CONCURRENCY, flows.length) }, worker));
  return results;
}

function checkFlows(value: unknown): Flow[] {
  if (!Array.isArray(value)) throw new Error('expected a JSON array of flows');
  return value.map((f: Partial<Flow>, i) => {
    if ((f.proto !== 'tcp' && f.proto !== 'udp') || typeof f.dst !== 'string' || !Number.isInteger(f.port)) {
      throw new Error(
        `flow ${i}: want {proto: "tcp"|"udp", dst, port, timeoutMs?}, got ${JSON.stringify(f)}`,
      );
    }
    return f as Flow;
  });
}

if (import.meta.main) {
  try {
    const input = process.argv[2] ?? (await text(process.stdin));
    process.stdout.write(`${JSON.stringify(await runFlows(checkFlows(JSON.parse(input))))}\n`);
  } catch (err) {
    process.stderr.write(`probe: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 2;
  }
}
