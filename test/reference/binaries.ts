// The reference binaries (kube-apiserver, etcd, upstream kube-proxy, kubectl), built from Go modules by
// scripts/build-reference.sh into a cache outside the clone, and the gate the reference tests use:
// locally a missing prerequisite (Go, root, tools) skips with the reason; under CI=true it fails.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { REPO_ROOT } from '../../src/sandbox/proxy.ts';
import { inCI, kernelUnavailable } from '../harness/kernel.ts';

export const BUILD_SCRIPT = join(REPO_ROOT, 'scripts', 'build-reference.sh');
const WRAPPER = join(REPO_ROOT, 'test', 'reference', 'go');

export interface ReferenceBinaries {
  dir: string;
  kubeApiserver: string;
  etcd: string;
  kubeProxy: string;
  kubectl: string;
  /** "v1.37.2": what /version must report. */
  k8sVersion: string;
  etcdVersion: string;
}

/** The version a committed wrapper go.mod pins for a module. */
function pinned(wrapper: string, module: string): string {
  const text = readFileSync(join(WRAPPER, wrapper, 'go.mod'), 'utf8');
  const esc = module.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const m = new RegExp(`^\\s*(?:require\\s+)?${esc}\\s+(v\\S+)`, 'm').exec(text);
  if (!m) throw new Error(`${wrapper}/go.mod does not require ${module}`);
  return m[1]!;
}

export const K8S_VERSION = pinned('k8s', 'k8s.io/kubernetes');
export const ETCD_VERSION = pinned('etcd', 'go.etcd.io/etcd/server/v3');

function binaries(dir: string): ReferenceBinaries {
  return {
    dir,
    kubeApiserver: join(dir, 'kube-apiserver'),
    etcd: join(dir, 'etcd'),
    kubeProxy: join(dir, 'kube-proxy'),
    kubectl: join(dir, 'kubectl'),
    k8sVersion: K8S_VERSION,
    etcdVersion: ETCD_VERSION,
  };
}

export class MissingPrerequisite extends Error {
  override name = 'MissingPrerequisite';
}

let building: Promise<ReferenceBinaries> | undefined;

/**
 * Runs scripts/build-reference.sh (instant when the cache is complete; a cold build takes 10-25 min
 * on 2 cores, its progress goes to this process's stderr). Rejects with MissingPrerequisite when Go is
 * missing (exit 3), with the script's output otherwise.
 */
export function ensureReferenceBinaries(): Promise<ReferenceBinaries> {
  building ??= new Promise((resolve, reject) => {
    const child = spawn('bash', [BUILD_SCRIPT], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    const err: string[] = [];
    child.stdout.on('data', (b: Buffer) => {
      out += b.toString();
    });
    child.stderr.on('data', (b: Buffer) => {
      const s = b.toString();
      err.push(s);
      // A cold build is long: show that it is happening.
      if (/building|built in|error|cannot/.test(s)) process.stderr.write(s);
    });
    child.on('error', reject);
    child.on('close', (code) => {
      const tail = err.join('').split('\n').slice(-30).join('\n');
      if (code === 0) resolve(binaries(out.trim().split('\n').pop() ?? ''));
      else if (code === 3) reject(new MissingPrerequisite(tail.trim()));
      else reject(new Error(`${BUILD_SCRIPT} exited ${code}:\n${tail}`));
    });
  });
  return building;
}

/**
 * The gate for every reference test: root + kernel tools (test/harness/kernel.ts) and the reference
 * binaries (built on demand). Returns undefined after skipping; throws under CI=true.
 */
export async function requireReference(
  t: TestContext,
  opts: { kernel?: boolean } = {},
): Promise<ReferenceBinaries | undefined> {
  let reason = opts.kernel === false ? undefined : kernelUnavailable();
  let bins: ReferenceBinaries | undefined;
  if (reason === undefined) {
    try {
      bins = await ensureReferenceBinaries();
    } catch (err) {
      if (!(err instanceof MissingPrerequisite)) throw err;
      reason = `reference binaries cannot be built: ${err.message}`;
    }
  }
  if (reason === undefined) return bins;
  if (inCI()) throw new Error(`CI=true and this reference test cannot run: ${reason}`);
  t.skip(reason);
  return undefined;
}
