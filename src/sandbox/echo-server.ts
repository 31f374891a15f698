// Runs inside a pod namespace and tells every client who answered and which source address it
// saw: "<podName> <remoteAddress>\n". Started by the sandbox; exits when its stdin closes so it
// never outlives the sandbox that spawned it.
//
//   ip netns exec NS node src/sandbox/echo-server.ts --name pod1 --tcp 8080 --udp 8053 [--sctp 8132]
//
// --port-suffix answers "<podName>:<port> <remoteAddress>" instead (TCP and UDP), so one process per
// pod still says which of its ports took the flow.
//
// Node has no SCTP sockets: --sctp runs socat listeners (one per family) as children.
import { type ChildProcess, spawn } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import { createServer, type Server } from 'node:net';
import { parseArgs } from 'node:util';
import { errorMessage } from '../errors.ts';

function unmapped(addr: string): string {
  // Dual-stack sockets report IPv4 peers as ::ffff:a.b.c.d.
  return addr.startsWith('::ffff:') && addr.includes('.') ? addr.slice(7) : addr;
}

function listenTcp(name: string, port: number, host: string): Promise<Server> {
  const server = createServer((sock) => {
    sock.on('error', () => {});
    sock.end(`${name}${suffix(port)} ${unmapped(sock.remoteAddress ?? '?')}\n`);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port, host, ipv6Only: false }, () => resolve(server));
  });
}

function listenUdp(name: string, port: number, host: string): Promise<Socket> {
  const sock = createSocket({ type: host.includes(':') ? 'udp6' : 'udp4', ipv6Only: false });
  sock.on('message', (_msg, rinfo) => {
    sock.send(`${name}${suffix(port)} ${unmapped(rinfo.address)}\n`, rinfo.port, rinfo.address);
  });
  return new Promise((resolve, reject) => {
    sock.once('error', reject);
    sock.bind(port, host, () => {
      sock.removeListener('error', reject);
      sock.on('error', () => {});
      resolve(sock);
    });
  });
}

let portSuffix = false;
function suffix(port: number): string {
  return portSuffix ? `:${port}` : '';
}

async function withFallback<T>(listen: (host: string) => Promise<T>): Promise<T> {
  try {
    return await listen('::');
  } catch (err) {
    // Namespaces without IPv6 cannot bind "::".
    if ((err as NodeJS.ErrnoException).code !== 'EAFNOSUPPORT') throw err;
    return listen('0.0.0.0');
  }
}

const sctpChildren: ChildProcess[] = [];

/** socat answers every association with "<name> <peer>"; resolves once both listeners are up. */
function listenSctp(name: string, port: number): Promise<void> {
  const listeners = [`SCTP4-LISTEN:${port},fork,reuseaddr`, `SCTP6-LISTEN:${port},fork,reuseaddr,ipv6only=1`];
  return Promise.all(
    listeners.map(
      (addr) =>
        new Promise<void>((resolve, reject) => {
          const child = spawn('socat', ['-d', '-d', addr, `SYSTEM:echo ${name} $SOCAT_PEERADDR`], {
            stdio: ['ignore', 'ignore', 'pipe'],
          });
          sctpChildren.push(child);
          let err = '';
          child.stderr.setEncoding('utf8');
          child.stderr.on('data', (c: string) => {
            err += c;
            // socat -d -d logs "listening on" once the socket is bound.
            if (/listening on/.test(err)) resolve();
          });
          child.on('error', (e) => reject(new Error(`socat: ${e.message}`)));
          child.on('exit', (code) => reject(new Error(`socat ${addr} exited ${code}: ${err.trim()}`)));
        }),
    ),
  ).then(() => undefined);
}

process.on('exit', () => {
  for (const c of sctpChildren) c.kill('SIGKILL');
});

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      name: { type: 'string' },
      tcp: { type: 'string', multiple: true, default: [] },
      udp: { type: 'string', multiple: true, default: [] },
      sctp: { type: 'string', multiple: true, default: [] },
      'port-suffix': { type: 'boolean', default: false },
    },
  });
  portSuffix = values['port-suffix'];
  const name = values.name;
  if (!name || /\s/.test(name)) throw new Error('--name NAME (no spaces) is required');
  const port = (s: string): number => {
    const n = Number(s);
    if (!Number.isInteger(n) || n < 1 || n > 65535) throw new Error(`bad port ${s}`);
    return n;
  };
  await Promise.all([
    ...values.tcp.map((p) => withFallback((host) => listenTcp(name, port(p), host))),
    ...values.udp.map((p) => withFallback((host) => listenUdp(name, port(p), host))),
    ...values.sctp.map((p) => listenSctp(name, port(p))),
  ]);
  process.stdin.on('end', () => process.exit(0));
  process.stdin.on('error', () => process.exit(0));
  process.stdin.resume();
  process.stdout.write('ready\n');
}

main().catch((err: unknown) => {
  process.stderr.write(`echo-server: ${errorMessage(err)}\n`);
  process.exit(1);
});
