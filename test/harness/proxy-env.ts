// One sandbox node, a manifest directory and the proxy running against it: the fixture every
// kernel test file shares (building it costs far more than any single test).
import type { Flow } from '../../src/sandbox/flows.ts';
import type { ProxyProcess } from '../../src/sandbox/proxy.ts';
import { createSandbox, type PodSpec, type Sandbox } from '../../src/sandbox/topology.ts';
import { ManifestDir } from './manifests.ts';
import { NODE_NAME } from './objects.ts';
import { waitForAnswer } from './traffic.ts';

export interface ProxyEnvOptions {
  pods: PodSpec[];
  /** File name -> objects, written before the proxy starts. */
  manifests: Record<string, object[]>;
  /** Appended to the standard flags. */
  extraArgs?: string[];
}

export function proxyArgs(manifestDir: string, extra: string[] = []): string[] {
  return [
    '--proxy-mode',
    'nftables',
    '--manifests',
    manifestDir,
    '--hostname-override',
    NODE_NAME,
    '--cluster-cidr',
    '198.18.0.0/16',
    // The binary takes upstream's flag name (the brief's --min-sync-period is not accepted).
    '--iptables-min-sync-period=100ms',
    '-v=2',
    ...extra,
  ];
}

export class ProxyEnv {
  readonly sandbox: Sandbox;
  readonly dir: ManifestDir;
  readonly proxy: ProxyProcess;

  private constructor(sandbox: Sandbox, dir: ManifestDir, proxy: ProxyProcess) {
    this.sandbox = sandbox;
    this.dir = dir;
    this.proxy = proxy;
  }

  static async start(opts: ProxyEnvOptions): Promise<ProxyEnv> {
    const dir = await ManifestDir.create();
    try {
      for (const [file, objects] of Object.entries(opts.manifests)) await dir.write(file, ...objects);
      const sandbox = await createSandbox({ pods: opts.pods });
      return new ProxyEnv(sandbox, dir, sandbox.startProxy(proxyArgs(dir.path, opts.extraArgs)));
    } catch (err) {
      await dir.close();
      throw err;
    }
  }

  /**
   * Waits until the flow is answered (the proxy programmed the service). Fails fast, with the
   * proxy's output, when the proxy exits instead.
   */
  async waitForAnswer(from: string, flow: Flow, timeoutMs = 10_000): Promise<void> {
    const exited = this.proxy.exited.then((s) => {
      throw new Error(`kube-proxy-ts exited (code ${s.code}, signal ${s.signal}):\n${this.proxy.tail()}`);
    });
    exited.catch(() => {});
    try {
      await Promise.race([waitForAnswer(this.sandbox, from, flow, timeoutMs), exited]);
    } catch (err) {
      throw new Error(`${(err as Error).message}${await this.context()}`);
    }
  }

  /** Proxy output and the node's ruleset, appended to assertion messages. */
  async context(): Promise<string> {
    const rules = await this.sandbox.nft(['list', 'ruleset']).catch((err: unknown) => String(err));
    return `\n--- proxy output ---\n${this.proxy.tail(30)}\n--- node ruleset ---\n${rules}`;
  }

  async close(): Promise<void> {
    try {
      await this.sandbox.close();
    } finally {
      await this.dir.close();
    }
  }
}

/** Builds the fixture on first use, so files whose tests all skip never touch the kernel. */
export function sharedEnv(opts: ProxyEnvOptions): { get(): Promise<ProxyEnv>; close(): Promise<void> } {
  let env: Promise<ProxyEnv> | undefined;
  return {
    get: () => {
      env ??= ProxyEnv.start(opts);
      return env;
    },
    close: async () => {
      const e = await env?.catch(() => undefined);
      await e?.close();
    },
  };
}
