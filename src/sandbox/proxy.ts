// The proxy under test, run inside the node namespace.
import { delimiter, join } from 'node:path';
import { LineProcess } from './process.ts';

export const REPO_ROOT = join(import.meta.dirname, '..', '..');
export const PROXY_BIN = join(REPO_ROOT, 'bin', 'kube-proxy-ts');

export interface ProxyProcess {
  readonly pid: number | undefined;
  readonly stderrLines: readonly string[];
  readonly stdoutLines: readonly string[];
  /** Resolves with the first stderr/stdout line matching `re`; rejects on timeout or early exit. */
  waitForLog(re: RegExp, timeoutMs: number): Promise<string>;
  /** The last lines of output, for assertion messages. */
  tail(n?: number): string;
  /** SIGTERM, then SIGKILL after 3 s. */
  stop(): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export interface SpawnProxyOptions {
  bin?: string;
  /**
   * Directories searched before anything else on the proxy's PATH: a test puts a wrapper of a
   * kernel tool there (`nft`, `iptables-restore`) to inject failures. The proxy runs its tools by
   * bare name (src/kernel/exec.ts), so this is the whole hook.
   */
  pathPrefix?: readonly string[];
}

export function spawnProxy(
  nodeNs: string,
  args: readonly string[],
  binOrOptions: string | SpawnProxyOptions = {},
): LineProcess {
  const opts = typeof binOrOptions === 'string' ? { bin: binOrOptions } : binOrOptions;
  const bin = opts.bin ?? PROXY_BIN;
  // The bin script may start with "#!/usr/bin/env node"; the repo's node must win over the system one.
  const env = {
    ...process.env,
    PATH: [...(opts.pathPrefix ?? []), join(REPO_ROOT, 'node_modules', '.bin'), process.env.PATH].join(
      delimiter,
    ),
  };
  return new LineProcess(`kube-proxy-ts in ${nodeNs}`, 'ip', ['netns', 'exec', nodeNs, bin, ...args], env);
}

export function asProxyProcess(p: LineProcess): ProxyProcess {
  return {
    get pid() {
      return p.pid;
    },
    stderrLines: p.stderrLines,
    stdoutLines: p.stdoutLines,
    waitForLog: (re, timeoutMs) => p.waitForLine(re, timeoutMs),
    tail: (n) => p.tail(n),
    stop: () => p.stop(3000),
    exited: p.exited,
  };
}
