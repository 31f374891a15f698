// A TCP forwarder between the source under test and kube-apiserver (TLS passes through
// untouched), to cut the source off while the API keeps changing, or to swallow its traffic.
import { connect, createServer, type Server, type Socket } from 'node:net';

export type ProxyMode = 'forward' | 'refuse' | 'blackhole';

export class TcpProxy {
  readonly port: number;
  readonly #server: Server;
  readonly #pairs = new Set<[Socket, Socket]>();
  #mode: ProxyMode = 'forward';
  connections = 0;
  /** Bytes from the server that a black hole has read and thrown away. */
  swallowed = 0;

  private constructor(server: Server, port: number) {
    this.#server = server;
    this.port = port;
  }

  static start(targetPort: number, targetHost = '127.0.0.1'): Promise<TcpProxy> {
    return new Promise((resolve, reject) => {
      let proxy: TcpProxy | undefined;
      const server = createServer((client) => proxy?.accept(client, targetHost, targetPort));
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => {
        const addr = server.address();
        if (typeof addr !== 'object' || !addr) {
          reject(new Error('no address'));
          return;
        }
        proxy = new TcpProxy(server, addr.port);
        resolve(proxy);
      });
    });
  }

  private accept(client: Socket, host: string, port: number): void {
    this.connections++;
    client.on('error', () => {});
    if (this.#mode === 'refuse') {
      client.destroy();
      return;
    }
    const upstream = connect(port, host);
    upstream.on('error', () => client.destroy());
    client.on('error', () => upstream.destroy());
    const pair: [Socket, Socket] = [client, upstream];
    this.#pairs.add(pair);
    const close = (): void => {
      this.#pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('close', close);
    upstream.on('close', close);
    if (this.#mode === 'blackhole') {
      this.#swallow(pair);
      return;
    }
    client.pipe(upstream);
    upstream.pipe(client);
  }

  /** Reads both directions and throws the bytes away, counting what the server sent. */
  #swallow([client, upstream]: [Socket, Socket]): void {
    client.on('data', () => {});
    upstream.on('data', (chunk: Buffer) => {
      this.swallowed += chunk.length;
    });
    // unpipe() leaves a stream paused, and a paused stream ignores new 'data' listeners.
    client.resume();
    upstream.resume();
  }

  /** Drops every connection and refuses new ones until resume(). */
  refuse(): void {
    this.#mode = 'refuse';
    for (const [a, b] of [...this.#pairs]) {
      a.destroy();
      b.destroy();
    }
  }

  /** Keeps connections open but forwards nothing (what arrives is read and dropped), on existing and new connections. */
  blackhole(): void {
    this.#mode = 'blackhole';
    for (const pair of this.#pairs) {
      const [a, b] = pair;
      a.unpipe(b);
      b.unpipe(a);
      this.#swallow(pair);
    }
  }

  /** Forwards again (connections black-holed so far are dropped: their streams are broken). */
  resume(): void {
    if (this.#mode === 'blackhole') {
      for (const [a, b] of [...this.#pairs]) {
        a.destroy();
        b.destroy();
      }
    }
    this.#mode = 'forward';
  }

  close(): Promise<void> {
    this.refuse();
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }
}
