// Gate for tests that need the real kernel. Locally a missing prerequisite skips the test with
// the reason; in CI (CI=true) the same condition fails it, so a misconfigured runner cannot pass
// by silently skipping everything.

import { spawnSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import type { TestContext } from 'node:test';
import { PROXY_BIN } from '../../src/sandbox/proxy.ts';

export interface KernelNeeds {
  /** The test also runs bin/kube-proxy-ts. */
  proxy?: boolean;
}

function hasTool(cmd: string, args: string[]): boolean {
  const r = spawnSync(cmd, args, { stdio: 'ignore', timeout: 5000 });
  return r.status === 0;
}

/** Why kernel tests cannot run here, or undefined when they can. */
export function kernelUnavailable(needs: KernelNeeds = {}): string | undefined {
  if (process.platform !== 'linux') return 'kernel tests need Linux';
  if (process.getuid?.() !== 0) return 'kernel tests need root (network namespaces, nftables)';
  if (!hasTool('ip', ['-V'])) return 'kernel tests need iproute2 (`ip`)';
  if (!hasTool('nft', ['--version'])) return 'kernel tests need nftables (`nft`)';
  if (needs.proxy) {
    try {
      accessSync(PROXY_BIN, constants.X_OK);
    } catch {
      return `kernel tests need an executable ${PROXY_BIN}`;
    }
  }
  return undefined;
}

export function inCI(): boolean {
  return process.env.CI === 'true';
}

/**
 * Call first in every kernel test: `if (!requireKernel(t, { proxy: true })) return;`.
 * Returns false after skipping the test; throws (failing it) when CI=true.
 */
export function requireKernel(t: TestContext, needs: KernelNeeds = {}): boolean {
  const reason = kernelUnavailable(needs);
  if (reason === undefined) return true;
  if (inCI()) throw new Error(`CI=true and this kernel test cannot run: ${reason}`);
  t.skip(reason);
  return false;
}
