// An AF_NETLINK socket for request/response protocols (nfnetlink, generic netlink).
// The kernel handles a request inside the send call (an nf_tables batch is committed there),
// so the send runs on a worker thread and the event loop stays free; by the time it returns
// the answers are queued, and reading them never waits (MSG_DONTWAIT). A dump is produced
// chunk by chunk as it is read, also without waiting.
import { KubeProxyError } from '../../errors.ts';
import { type Libc, libc } from './libc.ts';
import {
  type Message,
  type NetlinkAck,
  NLMSG_DONE,
  NLMSG_ERROR,
  parseAck,
  parseMessages,
} from './message.ts';

const AF_NETLINK = 16;
const SOCK_RAW = 3;
const SOCK_CLOEXEC = 0o2000000;
const SOL_SOCKET = 1;
const SO_SNDBUF = 7;
const SO_RCVBUF = 8;
const SO_SNDBUFFORCE = 32;
const SO_RCVBUFFORCE = 33;
const SOL_NETLINK = 270;
const NETLINK_EXT_ACK = 11;
const NETLINK_CAP_ACK = 10;
const MSG_DONTWAIT = 0x40;
const EAGAIN = 11;
const EINTR = 4;
const ENOBUFS = 105;

export const NETLINK_NETFILTER = 12;
export const NETLINK_GENERIC = 16;

const RECV_BUFFER = 1 << 20;

const O_RDONLY_CLOEXEC = 0o2000000;
const CLONE_NEWNET = 0x40000000;

/**
 * Opens a netlink socket in another network namespace (a socket stays in the namespace it was
 * created in): the calling thread enters the namespace for the socket() call only. For tests and
 * tools that program a namespace other than the process's own.
 */
export function netlinkSocketIn(netnsPath: string, protocol: number, lib: Libc = libc()): NetlinkSocket {
  const own = lib.open('/proc/thread-self/ns/net', O_RDONLY_CLOEXEC);
  if (own < 0) throw sysError('open own network namespace', lib.errno());
  const target = lib.open(netnsPath, O_RDONLY_CLOEXEC);
  if (target < 0) {
    const errno = lib.errno();
    lib.close(own);
    throw sysError(`open ${netnsPath}`, errno);
  }
  let socket: NetlinkSocket | undefined;
  let error: unknown;
  if (lib.setns(target, CLONE_NEWNET) < 0) error = sysError(`enter ${netnsPath}`, lib.errno());
  else {
    try {
      socket = new NetlinkSocket(protocol, lib);
    } catch (err) {
      error = err;
    }
    // The thread must not stay in the other namespace, whatever happened in it.
    if (lib.setns(own, CLONE_NEWNET) < 0) {
      socket?.close();
      socket = undefined;
      error = sysError('return to own network namespace', lib.errno());
    }
  }
  lib.close(target);
  lib.close(own);
  if (!socket) throw error;
  return socket;
}

export class NetlinkSocket {
  readonly #libc: Libc;
  #fd: number;
  readonly #addr: Buffer;
  #seq: number;
  #sndbuf = 0;
  readonly #recvBuf = Buffer.alloc(RECV_BUFFER);
  /** One request at a time: answers are read by draining the socket, so two requests must not overlap. */
  #queue: Promise<unknown> = Promise.resolve();

  constructor(protocol: number, lib: Libc = libc()) {
    this.#libc = lib;
    const fd = lib.socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, protocol);
    if (fd < 0) throw sysError('socket(AF_NETLINK)', lib.errno());
    this.#fd = fd;
    this.#addr = Buffer.alloc(12);
    this.#addr.writeUInt16LE(AF_NETLINK, 0);
    if (lib.bind(fd, this.#addr, 12) < 0) {
      const errno = lib.errno();
      lib.close(fd);
      throw sysError('bind(AF_NETLINK)', errno);
    }
    // Errors carry the kernel's text (extended ack) and echo only the failing header.
    this.#setInt(SOL_NETLINK, NETLINK_EXT_ACK, 1);
    this.#setInt(SOL_NETLINK, NETLINK_CAP_ACK, 1);
    // Acks of a large batch must fit; as root the limit can be forced past rmem_max.
    if (this.#setInt(SOL_SOCKET, SO_RCVBUFFORCE, 8 << 20) < 0) this.#setInt(SOL_SOCKET, SO_RCVBUF, 8 << 20);
    this.#seq = Math.floor(Date.now() / 1000) >>> 0;
  }

  /** The next sequence number, for numbering the messages of a request. */
  nextSeq(): number {
    this.#seq = (this.#seq + 1) >>> 0;
    return this.#seq;
  }

  /**
   * Sends one buffer of messages in one call (an nf_tables batch must arrive whole to be
   * atomic) and returns everything the kernel queued in answer.
   */
  send(buf: Buffer): Promise<Message[]> {
    return this.#exclusive(() => this.#send(buf));
  }

  /** Sends a dump request and reads the reply messages until NLMSG_DONE. */
  dump(buf: Buffer): Promise<Message[]> {
    return this.#exclusive(async () => this.#dump(buf));
  }

  #exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(fn, fn);
    this.#queue = run.catch(() => undefined);
    return run;
  }

  async #send(buf: Buffer): Promise<Message[]> {
    const fd = this.#open();
    this.#ensureSndbuf(buf.length);
    // Answers to an earlier request that timed out or was abandoned must not be read as ours.
    this.#drain();
    const n = await this.#libc.sendtoAsync(fd, buf, buf.length, 0, this.#addr, 12);
    if (n < 0) throw new KubeProxyError('KP_ERR_NETLINK', `netlink send of ${buf.length} bytes failed`);
    return this.#drain();
  }

  #dump(buf: Buffer): Message[] {
    const fd = this.#open();
    this.#drain();
    if (this.#libc.sendto(fd, buf, buf.length, 0, this.#addr, 12) < 0)
      throw sysError('netlink dump request', this.#libc.errno());
    const out: Message[] = [];
    for (;;) {
      const n = this.#libc.recv(fd, this.#recvBuf, this.#recvBuf.length, MSG_DONTWAIT);
      if (n < 0) {
        const errno = this.#libc.errno();
        if (errno === EINTR) continue;
        // A dump is produced as it is read: an empty queue before DONE means the kernel dropped it.
        throw sysError('netlink dump', errno);
      }
      if (n === 0) throw new KubeProxyError('KP_ERR_NETLINK', 'netlink dump: socket closed');
      for (const msg of parseMessages(Buffer.from(this.#recvBuf.subarray(0, n)))) {
        if (msg.type === NLMSG_DONE) return out;
        if (msg.type === NLMSG_ERROR) {
          const ack = parseAck(msg);
          if (ack.error !== 0) throw new NetlinkAckError('netlink dump', ack);
          continue;
        }
        out.push(msg);
      }
    }
  }

  close(): void {
    if (this.#fd < 0) return;
    this.#libc.close(this.#fd);
    this.#fd = -1;
  }

  #open(): number {
    if (this.#fd < 0) throw new KubeProxyError('KP_ERR_CLOSED', 'netlink socket is closed');
    return this.#fd;
  }

  #drain(): Message[] {
    const out: Message[] = [];
    for (;;) {
      const n = this.#libc.recv(this.#fd, this.#recvBuf, this.#recvBuf.length, MSG_DONTWAIT);
      if (n < 0) {
        const errno = this.#libc.errno();
        if (errno === EINTR) continue;
        if (errno === EAGAIN) return out;
        if (errno === ENOBUFS)
          throw new KubeProxyError('KP_ERR_NETLINK', 'netlink: answers were lost (receive buffer overrun)');
        throw sysError('netlink recv', errno);
      }
      if (n === 0) return out;
      out.push(...parseMessages(Buffer.from(this.#recvBuf.subarray(0, n))));
    }
  }

  #ensureSndbuf(len: number): void {
    // A netlink message larger than the send buffer is refused (EMSGSIZE); the kernel doubles the value.
    if (len + 4096 <= this.#sndbuf) return;
    let want = 1 << 20;
    while (want < len + 4096) want *= 2;
    if (this.#setInt(SOL_SOCKET, SO_SNDBUFFORCE, want) < 0) this.#setInt(SOL_SOCKET, SO_SNDBUF, want);
    this.#sndbuf = want;
  }

  #setInt(level: number, name: number, value: number): number {
    const v = Buffer.alloc(4);
    v.writeInt32LE(value, 0);
    return this.#libc.setsockopt(this.#fd, level, name, v, 4);
  }
}

const ERRNO_NAMES: Record<number, string> = {
  1: 'EPERM',
  2: 'ENOENT',
  3: 'ESRCH',
  12: 'ENOMEM',
  13: 'EACCES',
  16: 'EBUSY',
  17: 'EEXIST',
  22: 'EINVAL',
  28: 'ENOSPC',
  34: 'ERANGE',
  40: 'ELOOP',
  90: 'EMSGSIZE',
  93: 'EPROTONOSUPPORT',
  95: 'EOPNOTSUPP',
  97: 'EAFNOSUPPORT',
  105: 'ENOBUFS',
};

export function errnoName(errno: number): string {
  return ERRNO_NAMES[errno] ?? `errno ${errno}`;
}

function sysError(what: string, errno: number): KubeProxyError {
  return new KubeProxyError('KP_ERR_NETLINK', `${what}: ${errnoName(errno)}`);
}

/**
 * The kernel refused a request: its errno and extended-ack text. Protocol-neutral (code
 * KP_ERR_NETLINK); a protocol's client maps it to its own codes (the nf_tables writer to
 * KP_ERR_NFT_*), since the same errno means different things to different families.
 */
export class NetlinkAckError extends KubeProxyError {
  readonly errno: number;
  readonly kernelMessage: string | undefined;
  constructor(what: string, ack: NetlinkAck) {
    const errno = -ack.error;
    super('KP_ERR_NETLINK', `${what}: ${errnoName(errno)}${ack.message ? ` (${ack.message})` : ''}`);
    this.name = 'NetlinkAckError';
    this.errno = errno;
    this.kernelMessage = ack.message;
  }
}
