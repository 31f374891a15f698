// Boots a user-mode-linux guest that runs one command and powers off (README.md): the host's root
// read-only over hostfs, a throwaway per-run output directory as the only writable host path, the
// command's output streamed back live over a second console, its exit status read from a file.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { createWriteStream, existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import type { TestContext } from 'node:test';
import { inCI } from '../harness/kernel.ts';

/** Debian's user-mode-linux package: the stock guest kernel (modules in /usr/lib/uml/modules). */
export const DEFAULT_KERNEL = '/usr/bin/linux.uml';
export const INIT_SCRIPT = resolve(import.meta.dirname, 'init.sh');
/** The guest's one writable host-backed directory: files a command writes there land in outDir. */
export const GUEST_OUT_DIR = '/run/out';
const KILL_GRACE_MS = 5_000;
const CONSOLE_TAIL_CHARS = 4_000;

export interface GuestOptions {
  /** argv of the command; run by /bin/sh in the guest with `exec`. */
  command: readonly string[];
  /** Working directory in the guest (a host path: the guest sees the host's tree read-only). */
  cwd?: string;
  /** Environment of the command, on top of the guest's PATH (legacy iptables first). */
  env?: Readonly<Record<string, string>>;
  /** The whole run, boot included; the guest's process group is killed when it passes. */
  timeoutMs: number;
  /** Called once the run's host directory exists: its output.log grows live while the guest runs. */
  onStart?: (outDir: string) => void;
  /** Each chunk of the command's output as it arrives. */
  onOutput?: (chunk: string) => void;
  /** UML kernel binary; default DEFAULT_KERNEL or $KPTS_UML_KERNEL. */
  kernel?: string;
  /** Guest memory (UML's mem=); default 1G. */
  memory?: string;
  /** Extra modules to load at boot (the init script's list covers IPVS and iptables modes). */
  modules?: readonly string[];
}

export interface GuestResult {
  /** The command's exit status; null when the guest died or was killed before writing it. */
  status: number | null;
  timedOut: boolean;
  /** The command's stdout and stderr, interleaved as written. */
  output: string;
  /** The kernel console (boot messages, panics): for diagnosing a guest that died. */
  console: string;
  /** From the kernel's start to the command's start, as the guest measured it. */
  bootSeconds: number | undefined;
  durationMs: number;
  /** The host directory holding output.log and console.log; kept when the run failed. */
  outDir: string;
}

export function kernelPath(kernel?: string): string {
  return kernel ?? process.env.KPTS_UML_KERNEL ?? DEFAULT_KERNEL;
}

/** Why no guest can boot here, or undefined when one can. */
export function guestUnavailable(kernel?: string): string | undefined {
  if (process.platform !== 'linux') return 'user-mode-linux guests need a Linux host';
  const k = kernelPath(kernel);
  if (!existsSync(k))
    return `no user-mode-linux kernel at ${k} (apt-get install user-mode-linux; scripts/setup.sh)`;
  const r = spawnSync(k, ['--version'], { encoding: 'utf8', timeout: 10_000 });
  if (r.status !== 0) return `${k} --version failed: ${(r.stderr || r.error?.message || '').trim()}`;
  return undefined;
}

/** Call first in every guest test: skips locally, fails under CI=true, when no guest can boot. */
export function requireGuest(t: TestContext): boolean {
  const reason = guestUnavailable();
  if (reason === undefined) return true;
  if (inCI()) throw new Error(`CI=true and no user-mode-linux guest can boot: ${reason}`);
  t.skip(reason);
  return false;
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const MODULE_NAME = /^[A-Za-z0-9_-]+$/;

/** One shell word, quoted so the shell passes it unchanged. */
function shellQuote(s: string): string {
  return `'${s.replaceAll("'", `'\\''`)}'`;
}

/** cmd.sh: sets the environment, changes directory and execs the command. */
export function commandScript(opts: Pick<GuestOptions, 'command' | 'cwd' | 'env'>): string {
  if (opts.command.length === 0) throw new Error('guest command: empty argv');
  const lines: string[] = [];
  for (const [name, value] of Object.entries(opts.env ?? {})) {
    if (!ENV_NAME.test(name)) throw new Error(`guest env: invalid variable name ${JSON.stringify(name)}`);
    lines.push(`export ${name}=${shellQuote(value)}`);
  }
  if (opts.cwd !== undefined) lines.push(`cd ${shellQuote(opts.cwd)} || exit 126`);
  lines.push(`exec ${opts.command.map(shellQuote).join(' ')}`);
  return `${lines.join('\n')}\n`;
}

/** Kernel command line. Arguments the kernel does not know reach init as environment variables. */
export function kernelArgs(outDir: string, opts: Pick<GuestOptions, 'memory' | 'modules'>): string[] {
  for (const m of opts.modules ?? [])
    if (!MODULE_NAME.test(m)) throw new Error(`guest modules: invalid module name ${JSON.stringify(m)}`);
  if (/[\s,]/.test(outDir)) throw new Error(`guest output directory ${outDir}: no spaces or commas allowed`);
  return [
    `mem=${opts.memory ?? '1G'}`,
    'rootfstype=hostfs',
    'rootflags=/',
    'ro',
    'quiet',
    // con0 (kernel console) to the host's stderr pipe, con1 (the command's output) to fd 3.
    'con=null',
    'con0=null,fd:2',
    'con1=null,fd:3',
    `init=${INIT_SCRIPT}`,
    `UMLOUT=${outDir}`,
    ...(opts.modules?.length ? [`UMLMODULES=${opts.modules.join(',')}`] : []),
  ];
}

/** Guests still running, killed if this process exits first (a guest outliving its test is a leak). */
const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of live) killGroup(c, 'SIGKILL');
});

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    // UML runs one host process per guest address space, all in the group spawn() gave it.
    process.kill(-child.pid, signal);
  } catch {
    // already gone
  }
}

function tail(s: string, n: number): string {
  return s.length <= n ? s : `…${s.slice(-n)}`;
}

/** Boots a guest, runs the command, and returns when the guest is gone. */
export async function runInGuest(opts: GuestOptions): Promise<GuestResult> {
  const outDir = await mkdtemp(join(process.env.KPTS_UML_OUT_DIR ?? tmpdir(), 'kpts-uml-'));
  await writeFile(join(outDir, 'cmd.sh'), commandScript(opts));
  opts.onStart?.(outDir);
  const outputLog = createWriteStream(join(outDir, 'output.log'));
  const consoleLog = createWriteStream(join(outDir, 'console.log'));
  const started = Date.now();
  const child = spawn(kernelPath(opts.kernel), kernelArgs(outDir, opts), {
    stdio: ['ignore', 'ignore', 'pipe', 'pipe'],
    detached: true,
    // UML backs the guest's RAM with a file in $TMPDIR: tmpfs (/dev/shm) spares the disk the
    // write-back of every page the guest touches. KPTS_UML_RAM_DIR for a host with a small /dev/shm.
    env: {
      ...process.env,
      TMPDIR: process.env.KPTS_UML_RAM_DIR ?? (existsSync('/dev/shm') ? '/dev/shm' : tmpdir()),
    },
  });
  live.add(child);
  let output = '';
  let consoleText = '';
  // con1 is a tty whose output processing the init script turns off; drop any \r it still adds.
  const commandOutput = child.stdio[3] as Readable;
  commandOutput.setEncoding('utf8');
  commandOutput.on('data', (chunk: string) => {
    const text = chunk.replaceAll('\r\n', '\n');
    output += text;
    outputLog.write(text);
    opts.onOutput?.(text);
  });
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (chunk: string) => {
    consoleText += chunk;
    consoleLog.write(chunk);
  });

  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    killGroup(child, 'SIGTERM');
    setTimeout(() => killGroup(child, 'SIGKILL'), KILL_GRACE_MS).unref();
  }, opts.timeoutMs);
  const exit = await new Promise<{ code: number | null; error?: Error }>((done) => {
    child.on('error', (error) => done({ code: null, error }));
    // Helpers left in the group would hold the output pipes open, and 'close' would never come.
    child.on('exit', () => killGroup(child, 'SIGKILL'));
    // 'close': the output pipes are drained too.
    child.on('close', (code) => done({ code }));
  });
  clearTimeout(timer);
  live.delete(child);
  await Promise.all([new Promise((r) => outputLog.end(r)), new Promise((r) => consoleLog.end(r))]);
  if (exit.error) consoleText += `\nspawn ${kernelPath(opts.kernel)} failed: ${exit.error.message}`;

  let status: number | null = null;
  try {
    const rc = (await readFile(join(outDir, 'rc'), 'utf8')).trim();
    if (/^[0-9]+$/.test(rc)) status = Number(rc);
  } catch {
    // no rc: the guest died, or was killed, before the command finished
  }
  const boot = /^uml-init: ready in ([0-9.]+) s$/m.exec(output);
  const result: GuestResult = {
    status,
    timedOut,
    output,
    console: consoleText,
    bootSeconds: boot ? Number(boot[1]) : undefined,
    durationMs: Date.now() - started,
    outDir,
  };
  if (status === 0 && !timedOut && process.env.KPTS_UML_KEEP !== '1')
    await rm(outDir, { recursive: true, force: true });
  return result;
}

/** A one-paragraph account of a run that did not end with status 0, for assertion messages. */
export function describeFailure(r: GuestResult): string {
  const how = r.timedOut
    ? `timed out after ${r.durationMs} ms (guest killed)`
    : r.status === null
      ? `guest died without an exit status (UML exited); kernel console:\n${tail(r.console, CONSOLE_TAIL_CHARS)}`
      : `command exited ${r.status}`;
  return `${how}\nlogs kept in ${r.outDir}\n--- output (tail) ---\n${tail(r.output, CONSOLE_TAIL_CHARS)}`;
}
