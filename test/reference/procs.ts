// Small process/port helpers shared by the reference helpers (kept free of heavy imports: the
// in-namespace tunnel script loads this file too).
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LineProcess } from '../../src/sandbox/process.ts';

/**
 * Children die with us even on SIGKILL: setpriv sets the parent-death signal before exec'ing the
 * binary (util-linux; without it the exit/signal hooks still clean up).
 */
export const DEATHSIG_PREFIX: readonly string[] = existsSync('/usr/bin/setpriv')
  ? ['/usr/bin/setpriv', '--pdeathsig', 'SIGKILL', '--']
  : [];

/** A long-running child that is killed when this process dies, however it dies. */
export function spawnWithDeathsig(label: string, cmd: string, args: readonly string[]): LineProcess {
  const [head, ...rest] = [...DEATHSIG_PREFIX, cmd, ...args];
  return new LineProcess(label, head!, rest);
}

/** A port that was free a moment ago on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * A fresh temporary directory "kpts-<kind>-<pid>-XXXXXX". Directories of the same kind left by
 * processes that died without cleaning up (SIGKILL) are removed first.
 */
export function tempDir(kind: string): string {
  const re = new RegExp(`^kpts-${kind}-(\\d+)-`);
  for (const name of readdirSync(tmpdir())) {
    const m = re.exec(name);
    if (m && !alive(Number(m[1]))) rmSync(join(tmpdir(), name), { recursive: true, force: true });
  }
  return mkdtempSync(join(tmpdir(), `kpts-${kind}-${process.pid}-`));
}
