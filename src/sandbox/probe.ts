// Runs inside a namespace and tries a batch of flows, printing one JSON array of FlowResult.
// Batching matters: starting node costs far more than a flow.
//
//   ip netns exec NS node src/sandbox/probe.ts '[{"proto":"tcp","dst":"198.19.16.10","port":80}]'
//   (or the same JSON on stdin; or {"flows": [...], "concurrency": 1} to run them one at a time)
import { spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { request } from 'node:http';
import { connect, isIP, isIPv6 } from 'node:net';
import { text } from 'node:stream/consumers';
import { errorMessage } from '../errors.ts';
import {
  DEFAULT_PROBE_CONCURRENCY as DEFAULT_CONCURRENCY,
  DEFAULT_TIMEOUT_MS,
  type Flow,
  type FlowResult,
  PROTOS,
  parseEcho,
} from './flows.ts';

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

function stopwatch(): () => number {
  const start = performance.now();
  return () => Math.round(performance.now() - start);
}

function probeTcp(flow: Flow, timeoutMs: number): Promise<FlowResult> {
  const elapsed = stopwatch();
  return new Promise((resolve) => {
    let data = '';
    let connected = false;
    const sock = connect({
      host: flow.dst,
      port: flow.port,
      ...(flow.src !== undefined && { localAddress: flow.src }),
      ...(flow.sport !== undefined && { localPort: flow.sport }),
    });
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
  const elapsed = stopwatch();
  return new Promise((resolve) => {
    // A connected socket is what turns an ICMP port-unreachable into ECONNREFUSED.
    const sock = createSocket(isIPv6(flow.dst) ? 'udp6' : 'udp4');
    let closed = false;
    const finish = (r: FlowResult): void => {
      clearTimeout(timer);
      if (!closed) {
        closed = true;
        sock.close();
      }
      resolve(r);
    };
    const timer = setTimeout(() => finish({ outcome: 'drop', ms: elapsed() }), timeoutMs);
    sock.on('message', (msg) => finish(fromReply(msg.toString('utf8'), elapsed())));
    sock.on('error', (err) => finish(classify(err, elapsed())));
    // On a loaded machine the timeout can close the socket before bind or connect call back.
    const go = (): void => {
      // A failed connect (no route, say) calls back with the error rather than emitting it.
      const connected = ((err?: NodeJS.ErrnoException) => {
        if (err) finish(classify(err, elapsed()));
        else if (!closed) sock.send('probe\n');
      }) as () => void;
      if (!closed) sock.connect(flow.port, flow.dst, connected);
    };
    if (flow.src !== undefined || flow.sport !== undefined) {
      sock.bind({ port: flow.sport ?? 0, ...(flow.src !== undefined && { address: flow.src }) }, go);
    } else go();
  });
}

function probeHttp(flow: Flow, timeoutMs: number): Promise<FlowResult> {
  const elapsed = stopwatch();
  return new Promise((resolve) => {
    let done = false;
    const finish = (r: FlowResult): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      req.destroy();
      resolve(r);
    };
    const req = request({
      host: flow.dst,
      port: flow.port,
      path: flow.path ?? '/',
      method: 'GET',
      agent: false,
      ...(flow.src !== undefined && { localAddress: flow.src }),
    });
    let connected = false;
    req.on('socket', (s) => s.on('connect', () => (connected = true)));
    const timer = setTimeout(
      () =>
        finish(
          connected
            ? { outcome: 'error', code: 'NO_REPLY', ms: elapsed() }
            : { outcome: 'drop', ms: elapsed() },
        ),
      timeoutMs,
    );
    req.on('response', (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => {
        const headers: Record<string, string> = {};
        for (const [k, v] of Object.entries(res.headers)) if (typeof v === 'string') headers[k] = v;
        finish({ outcome: 'answer', status: res.statusCode ?? 0, body, headers, ms: elapsed() });
      });
    });
    req.on('error', (err) => finish(classify(err, elapsed())));
    req.end();
  });
}

function bracket(ip: string): string {
  return isIPv6(ip) ? `[${ip}]` : ip;
}

/** SCTP through socat: Node has no SCTP sockets. Exercised only on kernels with SCTP. */
function probeSctp(flow: Flow, timeoutMs: number): Promise<FlowResult> {
  const elapsed = stopwatch();
  return new Promise((resolve) => {
    const v6 = isIPv6(flow.dst);
    let target = `SCTP${v6 ? '6' : '4'}-CONNECT:${bracket(flow.dst)}:${flow.port}`;
    if (flow.src !== undefined || flow.sport !== undefined)
      target += `,bind=${flow.src === undefined ? '' : bracket(flow.src)}${flow.sport === undefined ? '' : `:${flow.sport}`}`;
    const child = spawn('socat', ['-T', String(Math.ceil(timeoutMs / 1000) + 1), '-', target], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    let done = false;
    const finish = (r: FlowResult): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      child.kill('SIGKILL');
      resolve(r);
    };
    const timer = setTimeout(() => finish({ outcome: 'drop', ms: elapsed() }), timeoutMs);
    child.stdin.on('error', () => {});
    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    child.stdout.on('data', (c: string) => {
      out += c;
      if (out.includes('\n')) finish(fromReply(out, elapsed()));
    });
    child.stderr.on('data', (c: string) => (err += c));
    // socat's last error line, without its "2026/01/01 00:00:00 socat[pid] E " prefix.
    const lastError = (): string =>
      (err.trim().split('\n').pop() ?? 'socat').replace(/^.*?socat\[\d+\] \w /, '');
    child.on('error', (e) => finish({ outcome: 'error', code: `socat: ${e.message}`, ms: elapsed() }));
    // 'close', not 'exit': only then has all of socat's stderr been read.
    child.on('close', () => {
      if (out) finish(fromReply(out, elapsed()));
      else if (/Connection refused|No route to host|Network is unreachable/.test(err))
        finish({ outcome: 'reject', code: lastError(), ms: elapsed() });
      else if (err) finish({ outcome: 'error', code: lastError(), ms: elapsed() });
    });
  });
}

const PROBERS: Record<Flow['proto'], (flow: Flow, timeoutMs: number) => Promise<FlowResult>> = {
  tcp: probeTcp,
  udp: probeUdp,
  http: probeHttp,
  sctp: probeSctp,
};

export async function runFlows(
  flows: readonly Flow[],
  concurrency = DEFAULT_CONCURRENCY,
): Promise<FlowResult[]> {
  const results: FlowResult[] = new Array(flows.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < flows.length) {
      const i = next++;
      const flow = flows[i]!;
      results[i] = await PROBERS[flow.proto](flow, flow.timeoutMs ?? DEFAULT_TIMEOUT_MS);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, flows.length)) }, worker));
  return results;
}

function checkFlows(value: unknown): Flow[] {
  if (!Array.isArray(value)) throw new Error('expected a JSON array of flows');
  return value.map((f: Partial<Flow>, i) => {
    const ok =
      PROTOS.includes(f.proto as Flow['proto']) &&
      typeof f.dst === 'string' &&
      isIP(f.dst) !== 0 &&
      Number.isInteger(f.port) &&
      (f.src === undefined || (typeof f.src === 'string' && isIP(f.src) !== 0)) &&
      (f.sport === undefined || Number.isInteger(f.sport));
    if (!ok) {
      throw new Error(
        `flow ${i}: want {proto: ${PROTOS.join('|')}, dst, port, src?, sport?, path?, timeoutMs?}, got ${JSON.stringify(f)}`,
      );
    }
    return f as Flow;
  });
}

function parseInput(value: unknown): { flows: Flow[]; concurrency: number } {
  if (Array.isArray(value)) return { flows: checkFlows(value), concurrency: DEFAULT_CONCURRENCY };
  const v = value as { flows?: unknown; concurrency?: unknown } | null;
  const concurrency = v?.concurrency ?? DEFAULT_CONCURRENCY;
  if (!Number.isInteger(concurrency) || (concurrency as number) < 1) throw new Error('bad concurrency');
  return { flows: checkFlows(v?.flows), concurrency: concurrency as number };
}

if (import.meta.main) {
  try {
    const input = process.argv[2] ?? (await text(process.stdin));
    const { flows, concurrency } = parseInput(JSON.parse(input));
    process.stdout.write(`${JSON.stringify(await runFlows(flows, concurrency))}\n`);
  } catch (err) {
    process.stderr.write(`probe: ${errorMessage(err)}\n`);
    process.exitCode = 2;
  }
}
