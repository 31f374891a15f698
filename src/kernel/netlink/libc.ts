// The few libc calls a netlink socket needs, through koffi (Node has no AF_NETLINK sockets).
// Loaded on first use, so that code paths that never open a netlink socket (the CLI writer, tests
// with fakes, other platforms) never load the native library.
import koffi from 'koffi';

export interface Libc {
  socket(domain: number, type: number, protocol: number): number;
  bind(fd: number, addr: Buffer, len: number): number;
  setsockopt(fd: number, level: number, name: number, value: Buffer, len: number): number;
  getsockname(fd: number, addr: Buffer, len: Buffer): number;
  sendto(fd: number, buf: Buffer, len: number, flags: number, addr: Buffer, addrLen: number): number;
  /** Runs sendto on a worker thread: a large nf_tables commit happens inside the call. */
  sendtoAsync(
    fd: number,
    buf: Buffer,
    len: number,
    flags: number,
    addr: Buffer,
    addrLen: number,
  ): Promise<number>;
  recv(fd: number, buf: Buffer, len: number, flags: number): number;
  close(fd: number): number;
  open(path: string, flags: number): number;
  setns(fd: number, nstype: number): number;
  errno(): number;
}

let loaded: Libc | undefined;

export function libc(): Libc {
  if (loaded) return loaded;
  const lib = koffi.load('libc.so.6');
  const socket = lib.func('int socket(int, int, int)');
  const bind = lib.func('int bind(int, const void *, uint32_t)');
  const setsockopt = lib.func('int setsockopt(int, int, int, const void *, uint32_t)');
  const getsockname = lib.func('int getsockname(int, _Out_ void *, _Inout_ void *)');
  const sendto = lib.func('long sendto(int, const void *, size_t, int, const void *, uint32_t)');
  const recv = lib.func('long recv(int, _Out_ void *, size_t, int)');
  const close = lib.func('int close(int)');
  const open = lib.func('int open(const char *, int)');
  const setns = lib.func('int setns(int, int)');
  loaded = {
    socket: (d, t, p) => socket(d, t, p) as number,
    bind: (fd, a, l) => bind(fd, a, l) as number,
    setsockopt: (fd, lv, n, v, l) => setsockopt(fd, lv, n, v, l) as number,
    getsockname: (fd, a, l) => getsockname(fd, a, l) as number,
    sendto: (fd, b, l, f, a, al) => Number(sendto(fd, b, l, f, a, al)),
    sendtoAsync: (fd, b, l, f, a, al) =>
      new Promise((resolve, reject) => {
        sendto.async(fd, b, l, f, a, al, (err: unknown, n: number | bigint) => {
          if (err) reject(err);
          else resolve(Number(n));
        });
      }),
    recv: (fd, b, l, f) => Number(recv(fd, b, l, f)),
    close: (fd) => close(fd) as number,
    open: (path, flags) => open(path, flags) as number,
    setns: (fd, nstype) => setns(fd, nstype) as number,
    errno: () => koffi.errno(),
  };
  return loaded;
}
