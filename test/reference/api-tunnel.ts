// Makes the API server (on the host's 127.0.0.1) reachable from inside a network namespace without
// touching the host's network: a Unix socket (filesystem, not network, namespaced) carries the bytes.
//
//   netns: 127.0.0.1:<port> --(helper process in the netns)--> unix socket --(this process)--> apiserver
//
// TLS runs end to end; the apiserver's certificate names 127.0.0.1, so the same CA works inside.
//
// Run as a script, this file is the in-namespace half:
//   ip netns exec NS node test/reference/api-tunnel.ts --listen 127.0.0.1:6443 --unix /path/sock
import { rmSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { register } from '../../src/sandbox/cleanup.ts';
import { LineProcess } from '../../src/sandbox/process.ts';
import { DEATHSIG_PREFIX, tempDir } from './procs.ts';

function pipeBoth(a: Socket, b: Socket): void {
  a.pipe(b);
  b.pipe(a);
  const close = (): void => {
    a.destroy();
    b.destroy();
  };
  a.on('error', close);
  b.on('error', close);
  a.on('close', close);
  b.on('close', close);
}

export interface ApiTunnel {
  /** https://127.0.0.1:<port>, valid inside the namespace. */
  readonly server: string;
  close(): Promise<void>;
}

/** Opens a tunnel from `127.0.0.1:<inNsPort>` inside `netns` to `127.0.0.1:<apiPort>` here. */
export async function openApiTunnel(netns: string, apiPort: number, inNsPort = 6443): Promise<ApiTunnel> {
  const dir = tempDir('tun');
  const sock = join(dir, 'api.sock');
  const host: Server = createServer((client) => {
    pipeBoth(client, connect(apiPort, '127.0.0.1'));
  });
  await new Promise<void>((resolve, reject) => {
    host.once('error', reject);
    host.listen(sock, () => resolve());
  });
  host.unref();
  const helper = new LineProcess(`api tunnel in ${netns}`, 'ip', [
    'netns',
    'exec',
    netns,
    ...DEATHSIG_PREFIX,
    process.execPath,
    import.meta.filename,
    '--listen',
    `127.0.0.1:${inNsPort}`,
    '--unix',
    sock,
  ]);
  const unregister = register({
    teardownSync: () => {
      helper.killSync();
      rmSync(dir, { recursive: true, force: true });
    },
  });
  const close = async (): Promise<void> => {
    helper.child.stdin?.end();
    await helper.stop(2000);
    await new Promise<void>((resolve) => host.close(() => resolve()));
    unregister();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await helper.waitForLine(/^ready$/, 10_000);
  } catch (err) {
    await close();
    throw err;
  }
  return { server: `https://127.0.0.1:${inNsPort}`, close };
}

if (import.meta.main) {
  const { values } = parseArgs({ options: { listen: { type: 'string' }, unix: { type: 'string' } } });
  const [addr, port] = (values.listen ?? '').split(':');
  if (!addr || !port || !values.unix) throw new Error('--listen ADDR:PORT --unix PATH');
  const unixPath = values.unix;
  const srv = createServer((client) => pipeBoth(client, connect(unixPath)));
  srv.listen(Number(port), addr, () => process.stdout.write('ready\n'));
  // Gone with the parent: the tunnel never outlives the test that opened it.
  process.stdin.on('end', () => process.exit(0));
  process.stdin.on('error', () => process.exit(0));
  process.stdin.resume();
}
