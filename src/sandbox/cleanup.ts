// Namespace naming and last-resort teardown. Every namespace name carries the pid of the process
// that owns it, so a start-up sweep can delete leftovers of dead runs without touching the live
// sandboxes of test files running in parallel.
import { randomBytes } from 'node:crypto';
import { run, runSyncQuiet } from './exec.ts';

export const DEFAULT_PREFIX = 'kpt';

export function checkPrefix(prefix: string): string {
  if (!/^[a-z][a-z0-9]{0,7}$/.test(prefix)) {
    throw new Error(`sandbox prefix ${JSON.stringify(prefix)}: want 1-8 lowercase letters/digits`);
  }
  return prefix;
}

export function newSandboxId(prefix: string): string {
  return `${checkPrefix(prefix)}-${process.pid}-${randomBytes(3).toString('hex')}`;
}

function ownerPid(ns: string, prefix: string): number | undefined {
  const m = new RegExp(`^${prefix}-(\\d+)-[0-9a-f]{6}-`).exec(ns);
  return m ? Number(m[1]) : undefined;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export async function listNamespaces(): Promise<string[]> {
  const { stdout } = await run('ip', ['netns', 'list']);
  return stdout
    .split('\n')
    .map((line) => line.split(' ')[0] ?? '')
    .filter(Boolean);
}

/** Deletes namespaces with this prefix whose owning process is gone, killing what still runs in them. */
export async function sweepStale(prefix: string = DEFAULT_PREFIX): Promise<string[]> {
  checkPrefix(prefix);
  const stale = (await listNamespaces()).filter((ns) => {
    const pid = ownerPid(ns, prefix);
    return pid !== undefined && pid !== process.pid && !isAlive(pid);
  });
  for (const ns of stale) deleteNamespaceSync(ns);
  return stale;
}

/** Kills the processes inside a namespace (all of them were started by a sandbox), then deletes it. */
export function deleteNamespaceSync(ns: string): void {
  for (const pid of runSyncQuiet('ip', ['netns', 'pids', ns]).split(/\s+/).filter(Boolean)) {
    try {
      process.kill(Number(pid), 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
  runSyncQuiet('ip', ['netns', 'del', ns]);
}

interface Teardown {
  /** Synchronous, best effort: runs from 'exit' and signal handlers. */
  teardownSync(): void;
}

const live = new Set<Teardown>();
let hooksInstalled = false;

const SIGNALS = { SIGINT: 2, SIGTERM: 15, SIGHUP: 1 } as const;

function installHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  process.on('exit', teardownAllSync);
  for (const [signal, num] of Object.entries(SIGNALS)) {
    process.on(signal, () => {
      // Another listener (the demo) owns the shutdown; the 'exit' hook still tears down.
      if (process.listenerCount(signal) > 1) return;
      teardownAllSync();
      process.exit(128 + num);
    });
  }
}

export function teardownAllSync(): void {
  for (const t of live) {
    live.delete(t);
    t.teardownSync();
  }
}

export function register(t: Teardown): () => void {
  installHooks();
  live.add(t);
  return () => live.delete(t);
}
