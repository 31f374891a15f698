// Shared by the chaos tests: a long-lived TCP conversation through a Service, a summary of what
// the proxy programmed in the kernel, catching the proxy inside a kernel transaction, and a
// wrapper of the kernel tools that fails every third transaction.
import { rmSync } from 'node:fs';
import { chmod, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { register } from '../../src/sandbox/cleanup.ts';
import type { LineProcess } from '../../src/sandbox/process.ts';
import type { ProxyProcess } from '../../src/sandbox/proxy.ts';
import type { Sandbox } from '../../src/sandbox/topology.ts';
import { KUBELET_HINT_ARGS } from '../harness/kubelet-hint.ts';
import { IPTABLES_VARIANT, NFTABLES_WRITER, PROXY_MODE } from '../harness/mode.ts';
import { waitFor } from '../harness/wait.ts';

const STREAM = join(import.meta.dirname, 'stream.ts');

/** Starts the stream echo server in a pod namespace and waits until it listens. */
export async function startStreamServer(sandbox: Sandbox, pod: string, port: number): Promise<LineProcess> {
  const p = sandbox.spawn(pod, process.execPath, [STREAM, 'server', '--port', String(port)]);
  await p.waitForLine(/"listening"/, 10_000);
  return p;
}

export class Stream {
  readonly #p: LineProcess;
  constructor(p: LineProcess) {
    this.#p = p;
  }

  /** The last echo received. */
  get seq(): number {
    for (let i = this.#p.stdoutLines.length - 1; i >= 0; i--) {
      const m = /^\{"seq":(\d+)\}$/.exec(this.#p.stdoutLines[i] ?? '');
      if (m) return Number(m[1]);
    }
    return 0;
  }

  /** Why the conversation broke, if it did. */
  get error(): string | undefined {
    const line = this.#p.stdoutLines.find((l) => l.includes('"error"'));
    if (line) return line;
    return this.#p.exitStatus
      ? `client exited (${JSON.stringify(this.#p.exitStatus)}): ${this.#p.tail(5)}`
      : undefined;
  }

  /** Waits for `n` more echoes: the connection still carries traffic. */
  async advances(n: number, timeoutMs = 5000): Promise<void> {
    const from = this.seq;
    await waitFor(
      async () => {
        const err = this.error;
        if (err) throw new Error(`the established connection broke: ${err}`);
        return this.seq >= from + n
          ? { ok: true, value: undefined }
          : { ok: false, detail: `seq ${this.seq}` };
      },
      { timeoutMs, intervalMs: 50, what: `${n} more echoes on the established connection (from ${from})` },
    );
  }

  stop(): void {
    this.#p.killSync();
  }
}

/** One connection from `from` to dst:port, echoing a line every 100 ms; waits for the first echoes. */
export async function startStream(
  sandbox: Sandbox,
  from: string,
  dst: string,
  port: number,
): Promise<Stream> {
  const p = sandbox.spawn(from, process.execPath, [STREAM, 'client', '--host', dst, '--port', String(port)]);
  const s = new Stream(p);
  await s.advances(3, 10_000);
  return s;
}

/**
 * What the proxy programmed, comparable across runs: per table, its chains with their rule
 * counts and its sets and maps with their element counts (nftables mode), or per iptables table
 * its chains with rule counts (iptables mode).
 */
export async function kernelSummary(sandbox: Sandbox): Promise<string[]> {
  const out: string[] = [];
  if (PROXY_MODE === 'iptables') {
    for (const bin of ['iptables', 'ip6tables']) {
      const { stdout } = await sandbox.exec('node', `${bin}-${IPTABLES_VARIANT}-save`, []);
      let table = '';
      const rules = new Map<string, number>();
      for (const line of stdout.split('\n')) {
        if (line.startsWith('*')) table = line.slice(1);
        else if (line.startsWith(':')) rules.set(`${bin} ${table} ${line.slice(1).split(' ')[0]}`, 0);
        else if (line.startsWith('-A ')) {
          const key = `${bin} ${table} ${line.split(' ')[1]}`;
          rules.set(key, (rules.get(key) ?? 0) + 1);
        }
      }
      for (const [k, n] of rules) out.push(`${k} rules=${n}`);
    }
    return out.sort();
  }
  const json = JSON.parse(await sandbox.nft(['-j', 'list', 'ruleset'])) as {
    nftables: Record<
      string,
      { family?: string; table?: string; chain?: string; name?: string; elem?: unknown[] }
    >[];
  };
  const rules = new Map<string, number>();
  for (const e of json.nftables) {
    if (e.chain)
      rules.set(
        `${e.chain.family} ${e.chain.table} chain ${e.chain.name}`,
        rules.get(`${e.chain.family} ${e.chain.table} chain ${e.chain.name}`) ?? 0,
      );
    else if (e.rule) {
      const key = `${e.rule.family} ${e.rule.table} chain ${e.rule.chain}`;
      rules.set(key, (rules.get(key) ?? 0) + 1);
    } else if (e.set || e.map) {
      const s = (e.set ?? e.map)!;
      out.push(`${s.family} ${s.table} ${e.set ? 'set' : 'map'} ${s.name} elements=${s.elem?.length ?? 0}`);
    }
  }
  for (const [k, n] of rules) out.push(`${k} rules=${n}`);
  return out.sort();
}

/** The kernel tools whose transactions a sync is made of, in the mode under test. */
export const TRANSACTION_TOOLS =
  PROXY_MODE === 'iptables'
    ? [`iptables-${IPTABLES_VARIANT}-restore`, `ip6tables-${IPTABLES_VARIANT}-restore`]
    : ['nft'];

async function children(pid: number): Promise<{ pid: number; cmdline: string }[]> {
  const names: { pid: number; cmdline: string }[] = [];
  let tasks: string[];
  try {
    tasks = await readdir(`/proc/${pid}/task`);
  } catch {
    return names;
  }
  for (const tid of tasks) {
    const children = await readFile(`/proc/${pid}/task/${tid}/children`, 'utf8').catch(() => '');
    for (const child of children.split(' ').filter(Boolean)) {
      const cmdline = await readFile(`/proc/${child}/cmdline`, 'utf8').catch(() => '');
      names.push({ pid: Number(child), cmdline: cmdline.split('\0').filter(Boolean).join(' ') });
    }
  }
  return names;
}

/**
 * Waits until the proxy runs a kernel transaction (an `nft -f` or `*-restore` child): then it is
 * inside a sync. Returns the child's command line.
 */
export async function waitForTransaction(
  pid: number,
  timeoutMs: number,
  proxy?: ProxyProcess,
  /** Netlink writer: look only at the proxy's log lines from this one on. */
  sinceLine = 0,
  minOperations = 1000,
): Promise<{ pid: number; cmdline: string }> {
  const deadline = performance.now() + timeoutMs;
  if (PROXY_MODE === 'nftables' && NFTABLES_WRITER === 'netlink') {
    // The netlink writer commits inside one sendto(2), with no process to see: the proxy (-v=2)
    // says when it starts applying a transaction of at least `minOperations`.
    if (!proxy) throw new Error('waitForTransaction: the netlink writer needs the proxy process');
    const re = new RegExp(
      `Applying nftables transaction.* operations=(\\d{${String(minOperations).length},})`,
    );
    while (performance.now() < deadline) {
      const line = proxy.stderrLines.slice(sinceLine).find((l) => re.test(l));
      if (line !== undefined) return { pid, cmdline: line };
      await sleep(1);
    }
    throw new Error(
      `the proxy (pid ${pid}) applied no transaction of ${minOperations}+ operations in ${timeoutMs} ms`,
    );
  }
  while (performance.now() < deadline) {
    const hit = (await children(pid)).find(({ cmdline: n }) =>
      PROXY_MODE === 'iptables' ? /-restore( |$)/.test(n) : / -f -$/.test(n) && !n.includes('--check'),
    );
    if (hit) return hit;
    await sleep(2);
  }
  throw new Error(`the proxy (pid ${pid}) ran no kernel transaction within ${timeoutMs} ms`);
}

export interface FailingTools {
  /** Put first on the proxy's PATH. */
  readonly dir: string;
  /** Transactions seen so far (the failed ones included). */
  calls(): Promise<number>;
  close(): Promise<void>;
}

/**
 * A directory of wrappers, one per transaction tool of the mode under test, that pass every call
 * to the real tool except every third transaction (`nft -f` that is not `--check`; any
 * `*-restore`), which fails with "injected failure" without touching the kernel. The proxy finds
 * its tools on PATH by name (src/kernel/exec.ts): that is the whole hook.
 */
export async function failingTools(): Promise<FailingTools> {
  const dir = await mkdtemp(join(tmpdir(), 'kpt-failing-tools-'));
  const unregister = register({ teardownSync: () => rmSync(dir, { recursive: true, force: true }) });
  const counter = join(dir, 'calls');
  await writeFile(counter, '0\n');
  const realPath = process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin';
  for (const tool of TRANSACTION_TOOLS) {
    const script = `#!/bin/bash
# Injected by the chaos tests: every third transaction fails.
set -u
real="$(PATH='${realPath}' command -v ${tool})"
transaction=0
case "${tool}" in
  *-restore) transaction=1 ;;
  nft) if [[ " $* " == *" -f "* && " $* " != *" --check "* ]]; then transaction=1; fi ;;
esac
if (( transaction )); then
  exec 9>"${counter}.lock"
  flock 9
  n=$(( $(cat "${counter}") + 1 ))
  echo "$n" > "${counter}"
  flock -u 9
  if (( n % 3 == 0 )); then
    cat > /dev/null
    echo "Error: injected failure (transaction $n)" >&2
    exit 1
  fi
fi
exec "$real" "$@"
`;
    await writeFile(join(dir, tool), script);
    await chmod(join(dir, tool), 0o755);
  }
  return {
    dir,
    calls: async () => Number((await readFile(counter, 'utf8')).trim()),
    close: async () => {
      unregister();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** The lines only one of two summaries has, for assertion messages. */
export function summaryDiff(a: readonly string[], b: readonly string[]): string {
  const sa = new Set(a);
  const sb = new Set(b);
  const onlyA = a.filter((x) => !sb.has(x));
  const onlyB = b.filter((x) => !sa.has(x));
  const show = (xs: string[]) =>
    `${xs.slice(0, 8).join('\n    ')}${xs.length > 8 ? `\n    … ${xs.length - 8} more` : ''}`;
  return `only in the first (${onlyA.length}):\n    ${show(onlyA)}\nonly in the second (${onlyB.length}):\n    ${show(onlyB)}`;
}

/**
 * nftables mode flushes a chain that went stale and deletes it at the first sync at least a
 * second later (as upstream: older kernels notice unreferenced chains late); with no further
 * change that is up to an hour later. This drives syncs (sync-marker generations) a second
 * apart until no flushed chain is left, then returns the summary.
 */
export async function settledSummary(
  sandbox: Sandbox,
  waitForSync: () => Promise<void>,
  timeoutMs = 20_000,
): Promise<string[]> {
  return waitFor(
    async () => {
      await sleep(1100);
      await waitForSync();
      const s = await kernelSummary(sandbox);
      const flushed = PROXY_MODE === 'nftables' ? s.filter((l) => l.endsWith(' rules=0')) : [];
      return flushed.length === 0
        ? { ok: true, value: s }
        : { ok: false, detail: `${flushed.length} flushed chains left: ${flushed.slice(0, 3).join(', ')}` };
    },
    { timeoutMs, intervalMs: 0, what: 'the stale chains of the restart to be deleted' },
  );
}

/**
 * The kernel summary once two readings a sync apart agree: iptables mode applies a large sync in
 * several restores (service chains first, the jumps into them last), so a reading taken just after
 * the sync marker answers may fall between two of them.
 */
export async function stableSummary(
  sandbox: Sandbox,
  waitForSync: () => Promise<void>,
  timeoutMs = 20_000,
): Promise<string[]> {
  let last = await kernelSummary(sandbox);
  return waitFor(
    async () => {
      await sleep(1100);
      await waitForSync();
      const s = await kernelSummary(sandbox);
      const same = s.length === last.length && s.every((l, i) => l === last[i]);
      last = s;
      return same
        ? { ok: true, value: s }
        : { ok: false, detail: 'the kernel still changed between two syncs' };
    },
    { timeoutMs, intervalMs: 0, what: 'the clean start to settle' },
  );
}

/** Waits until a process has exited (an orphaned kernel transaction finishing on its own). */
export async function waitForExit(pid: number, timeoutMs: number): Promise<void> {
  await waitFor(
    async () => {
      const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
      // Gone, or a zombie nobody reaps yet: either way it no longer touches the kernel.
      return stat === '' || / Z /.test(stat) ? { ok: true, value: undefined } : { ok: false, detail: stat };
    },
    { timeoutMs, intervalMs: 20, what: `process ${pid} to exit` },
  );
}

/**
 * An empty kernel for a clean start to compare with: nothing of the proxy's is left, and in
 * iptables mode kubelet's hint chain (test/harness/proxy-env.ts plants it) is put back.
 */
export async function cleanKernel(sandbox: Sandbox): Promise<void> {
  if (PROXY_MODE === 'nftables') {
    await sandbox.nft(['flush', 'ruleset']);
    return;
  }
  for (const bin of ['iptables', 'ip6tables'].map((b) => `${b}-${IPTABLES_VARIANT}`)) {
    for (const table of ['filter', 'nat', 'mangle']) {
      await sandbox.exec('node', bin, ['-w', '5', '-t', table, '-F']);
      await sandbox.exec('node', bin, ['-w', '5', '-t', table, '-X']);
    }
    await sandbox.exec('node', bin, [...KUBELET_HINT_ARGS]);
  }
}
