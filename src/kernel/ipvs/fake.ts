// An in-memory IPVS with the kernel's answers (a second add is EEXIST, changing what is not there
// is ENOENT/ESRCH), for the proxier's tests without root. Connection counts are set by tests to
// drive graceful termination.
import { KubeProxyError } from '../../errors.ts';
import {
  FLAG_PERSISTENT,
  type Ipvs,
  type IpvsOp,
  type IpvsOpFailure,
  type IpvsTimeouts,
  type RealServer,
  realServerKey,
  type VirtualServer,
  virtualServerKey,
} from './types.ts';

interface Service {
  vs: VirtualServer;
  dests: Map<string, RealServer>;
}

export class FakeIpvs implements Ipvs {
  readonly services = new Map<string, Service>();
  /** Every operation applied, in order (refused ones too). */
  readonly log: IpvsOp[] = [];
  timeouts: IpvsTimeouts | undefined;
  /** Operations refused with this error whatever they are (a kernel that says no). */
  failWith: ((op: IpvsOp) => Error | undefined) | undefined;
  closed = false;
  flushes = 0;

  async virtualServers(): Promise<VirtualServer[]> {
    return [...this.services.values()].map((s) => s.vs);
  }

  async realServers(vs: VirtualServer): Promise<RealServer[]> {
    const svc = this.services.get(virtualServerKey(vs));
    if (!svc) throw new KubeProxyError('KP_ERR_IPVS_NOT_FOUND', `get dests ${virtualServerKey(vs)}: ESRCH`);
    return [...svc.dests.values()];
  }

  async apply(ops: readonly IpvsOp[]): Promise<IpvsOpFailure[]> {
    const failures: IpvsOpFailure[] = [];
    for (const op of ops) {
      this.log.push(op);
      try {
        const injected = this.failWith?.(op);
        if (injected) throw injected;
        this.#apply(op);
      } catch (err) {
        failures.push({ op, error: err as Error });
      }
    }
    return failures;
  }

  #apply(op: IpvsOp): void {
    const key = virtualServerKey(op.vs);
    const svc = this.services.get(key);
    const fail = (code: 'KP_ERR_IPVS_NOT_FOUND' | 'KP_ERR_IPVS_EXISTS', errno: string): never => {
      throw new KubeProxyError(code, `${op.op} ${key}: ${errno}`);
    };
    switch (op.op) {
      case 'add-service':
        if (svc) fail('KP_ERR_IPVS_EXISTS', 'EEXIST');
        this.services.set(key, { vs: op.vs, dests: new Map() });
        return;
      case 'update-service':
        if (!svc) throw fail('KP_ERR_IPVS_NOT_FOUND', 'ESRCH');
        svc.vs = op.vs;
        return;
      case 'delete-service':
        if (!svc) fail('KP_ERR_IPVS_NOT_FOUND', 'ESRCH');
        this.services.delete(key);
        return;
    }
    if (!svc) throw fail('KP_ERR_IPVS_NOT_FOUND', 'ESRCH');
    const rsKey = realServerKey(op.rs);
    const dest = svc.dests.get(rsKey);
    switch (op.op) {
      case 'add-dest':
        if (dest) fail('KP_ERR_IPVS_EXISTS', 'EEXIST');
        svc.dests.set(rsKey, { ...op.rs, activeConns: 0, inactiveConns: 0 });
        return;
      case 'update-dest':
        if (!dest) throw fail('KP_ERR_IPVS_NOT_FOUND', 'ENOENT');
        svc.dests.set(rsKey, { ...dest, weight: op.rs.weight });
        return;
      case 'delete-dest':
        if (!dest) fail('KP_ERR_IPVS_NOT_FOUND', 'ENOENT');
        svc.dests.delete(rsKey);
        return;
    }
  }

  /** Test hook: the kernel's connection counts of one real server. */
  setConnections(vsKey: string, rsKey: string, active: number, inactive: number): void {
    const dest = this.services.get(vsKey)?.dests.get(rsKey);
    if (!dest) throw new Error(`no real server ${rsKey} in ${vsKey}`);
    this.services.get(vsKey)?.dests.set(rsKey, { ...dest, activeConns: active, inactiveConns: inactive });
  }

  /** The virtual and real servers as `ipvsadm -Ln` lists them (for --dry-run). */
  listing(): string {
    const lines: string[] = [];
    for (const { vs, dests } of [...this.services.values()].sort((a, b) =>
      virtualServerKey(a.vs).localeCompare(virtualServerKey(b.vs)),
    )) {
      const addr = vs.family === 'IPv6' ? `[${vs.address}]:${vs.port}` : `${vs.address}:${vs.port}`;
      const persistent = vs.flags & FLAG_PERSISTENT ? ` persistent ${vs.timeout}` : '';
      lines.push(`${vs.protocol}  ${addr} ${vs.scheduler}${persistent}`);
      for (const rs of dests.values())
        lines.push(`  -> ${realServerKey(rs).padEnd(28)} Masq    ${rs.weight}`);
    }
    return lines.length ? `${lines.join('\n')}\n` : '';
  }

  async flush(): Promise<void> {
    this.flushes++;
    this.services.clear();
  }

  async configureTimeouts(t: IpvsTimeouts): Promise<void> {
    this.timeouts = t;
  }

  close(): void {
    this.closed = true;
  }
}
