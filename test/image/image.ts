// The container image for tests: built by scripts/image.sh (once per test process; the script's
// caches make a rebuild take seconds), run with podman against the script's image store.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { type RunOptions, type RunResult, run } from '../../src/sandbox/exec.ts';
import { REPO_ROOT } from '../../src/sandbox/proxy.ts';
import { inCI, kernelUnavailable } from '../harness/kernel.ts';

export const IMAGE_SCRIPT = join(REPO_ROOT, 'scripts', 'image.sh');
export const VERSION = (
  JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }
).version;
export const IMAGE = `localhost/kube-proxy-ts:v${VERSION}-test`;

/** Why the image tests cannot run here (root, kernel tools), or undefined. */
export function imageUnavailable(): string | undefined {
  return kernelUnavailable();
}

/** Skips locally, fails under CI=true (as test/harness/kernel.ts). */
export function requireImageHost(t: TestContext): boolean {
  const reason = imageUnavailable();
  if (reason === undefined) return true;
  if (inCI()) throw new Error(`CI=true and this image test cannot run: ${reason}`);
  t.skip(reason);
  return false;
}

/** Runs scripts/image.sh with `args`; its progress goes to this process's stderr. */
export function imageScript(args: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [IMAGE_SCRIPT, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...env },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => {
      stdout += b.toString();
    });
    child.stderr.on('data', (b: Buffer) => {
      const s = b.toString();
      stderr += s;
      // A cold build takes minutes: show that it is happening.
      for (const line of s.split('\n')) if (line.startsWith('image: ')) process.stderr.write(`${line}\n`);
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

let built: Promise<string> | undefined;

/** Builds the image under the test tag (once per process); resolves with its ID. */
export function buildImage(): Promise<string> {
  built ??= (async () => {
    const r = await imageScript(['--tag', IMAGE]);
    if (r.code !== 0)
      throw new Error(`scripts/image.sh exited ${r.code}:\n${r.stderr.split('\n').slice(-40).join('\n')}`);
    return imageId(IMAGE);
  })();
  return built;
}

let globalArgs: string[] | undefined;

/** podman with the image store and runtime scripts/image.sh uses. */
export async function podman(args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  globalArgs ??= (await run('bash', [IMAGE_SCRIPT, '--podman-args'])).stdout.trim().split('\n');
  return run('podman', [...globalArgs, ...args], { timeoutMs: 120_000, ...opts });
}

export async function imageId(ref: string): Promise<string> {
  return (await podman(['image', 'inspect', '--format', '{{.Id}}', ref])).stdout.trim();
}

/**
 * `--ulimit` flags this machine can grant: podman asks for more open files and processes than a
 * process here may have (no CAP_SYS_RESOURCE; an nproc above kernel.pid_max is refused too), and
 * runc then fails with "error setting rlimits". The container gets what this process has, as a
 * container of containerd gets containerd's limits.
 */
export function ulimitArgs(): string[] {
  const limits = readFileSync('/proc/self/limits', 'utf8');
  const limit = (name: string): [string, string] => {
    const m = new RegExp(`^${name}\\s+(\\S+)\\s+(\\S+)`, 'm').exec(limits);
    if (!m) throw new Error(`/proc/self/limits has no ${name}`);
    return [m[1]!, m[2]!];
  };
  const pidMax = Number(readFileSync('/proc/sys/kernel/pid_max', 'utf8'));
  const cap = (v: string): string =>
    v === 'unlimited' ? String(pidMax) : String(Math.min(Number(v), pidMax));
  const [nofileSoft, nofileHard] = limit('Max open files');
  const [nprocSoft, nprocHard] = limit('Max processes');
  return [
    '--ulimit',
    `nofile=${nofileSoft}:${nofileHard}`,
    '--ulimit',
    `nproc=${cap(nprocSoft)}:${cap(nprocHard)}`,
  ];
}

/** Runs a command in a throwaway container of the image, without a network. */
export function inImage(
  cmd: readonly string[],
  opts: { env?: Record<string, string>; podmanArgs?: readonly string[] } = {},
): Promise<RunResult> {
  const env = Object.entries(opts.env ?? {}).flatMap(([k, v]) => ['--env', `${k}=${v}`]);
  const [entry, ...rest] = cmd;
  return podman(
    [
      'run',
      '--rm',
      '--network',
      'none',
      ...ulimitArgs(),
      ...env,
      ...(opts.podmanArgs ?? []),
      '--entrypoint',
      entry!,
      IMAGE,
      ...rest,
    ],
    { allowFail: true },
  );
}
