// IPVS as the proxier sees it: virtual servers (a service address, port and protocol with a
// scheduler) and their real servers (the endpoints), read and changed through one narrow
// interface that the netlink client and the in-memory fake both implement.
import type { IPFamily } from '../../util/ip.ts';
import { joinHostPort } from '../../util/ip.ts';

export type IpvsProtocol = 'TCP' | 'UDP' | 'SCTP';

/** Persistence (ClientIP session affinity): one client keeps its real server for `timeout` seconds. */
export const FLAG_PERSISTENT = 0x1;
/** Set by the kernel on every service it holds; never part of what we ask for. */
export const FLAG_HASHED = 0x2;
/**
 * IP_VS_SVC_F_SCHED2, which for the "mh" scheduler means mh-port (the source port is hashed
 * too); upstream calls it FlagSourceHash and sets it whenever the scheduler is mh.
 */
export const FLAG_SOURCE_HASH = 0x10;

export interface VirtualServer {
  readonly family: IPFamily;
  /** Canonical text of the address. */
  readonly address: string;
  readonly protocol: IpvsProtocol;
  readonly port: number;
  readonly scheduler: string;
  /** Without FLAG_HASHED. */
  readonly flags: number;
  /** Persistence timeout in seconds (0 without persistence). */
  readonly timeout: number;
}

export interface RealServer {
  readonly address: string;
  readonly port: number;
  readonly weight: number;
  /** As the kernel reports them; 0 in what we ask for. */
  readonly activeConns: number;
  readonly inactiveConns: number;
}

/** "ip:port/PROTO", upstream's VirtualServer.String(): the identity of a virtual server. */
export function virtualServerKey(vs: Pick<VirtualServer, 'address' | 'port' | 'protocol'>): string {
  return `${joinHostPort(vs.address, vs.port)}/${vs.protocol}`;
}

/** "ip:port", upstream's RealServer.String(). */
export function realServerKey(rs: Pick<RealServer, 'address' | 'port'>): string {
  return joinHostPort(rs.address, rs.port);
}

/** Whether two virtual servers would program the same (upstream's VirtualServer.Equal). */
export function sameVirtualServer(a: VirtualServer, b: VirtualServer): boolean {
  return (
    a.address === b.address &&
    a.protocol === b.protocol &&
    a.port === b.port &&
    a.scheduler === b.scheduler &&
    a.flags === b.flags &&
    a.timeout === b.timeout
  );
}

export type IpvsOp =
  | { readonly op: 'add-service' | 'update-service' | 'delete-service'; readonly vs: VirtualServer }
  | {
      readonly op: 'add-dest' | 'update-dest' | 'delete-dest';
      readonly vs: VirtualServer;
      readonly rs: RealServer;
    };

export interface IpvsOpFailure {
  readonly op: IpvsOp;
  readonly error: Error;
}

/** IPVS timeouts in seconds; 0 leaves the kernel's value as it is (ipvsadm --set). */
export interface IpvsTimeouts {
  readonly tcp: number;
  readonly tcpFin: number;
  readonly udp: number;
}

export interface Ipvs {
  /** Every virtual server of this network namespace, both families. */
  virtualServers(): Promise<VirtualServer[]>;
  realServers(vs: VirtualServer): Promise<RealServer[]>;
  /**
   * Applies the operations in order. Each stands alone, as upstream's one call per change: a
   * refused one is returned with its error and the others still apply.
   */
  apply(ops: readonly IpvsOp[]): Promise<IpvsOpFailure[]>;
  /** Deletes every virtual server. */
  flush(): Promise<void>;
  configureTimeouts(t: IpvsTimeouts): Promise<void>;
  close(): void;
}
