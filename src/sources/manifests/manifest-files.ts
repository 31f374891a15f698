// Which files in the manifest directory count, and reading them without tripping over races
// (files replaced or deleted mid-read), special files or huge files.
import { type BigIntStats, constants } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import { errorMessage } from '../../errors.ts';

/** Larger than any sane set of manifests; reading more would only risk the process's memory. */
export const MAX_MANIFEST_BYTES = 16 * 1024 * 1024;

/** *.yaml, *.yml, *.json, except hidden files and editor leftovers (".x.yaml.swp", "x.yaml~", "#x.yaml#"). */
export function isManifestFileName(name: string): boolean {
  if (name.startsWith('.') || name.startsWith('#') || name.endsWith('~')) return false;
  return /\.(ya?ml|json)$/i.test(name);
}

export type FileProbe =
  | { status: 'file'; signature: string }
  | { status: 'absent' }
  | { status: 'error'; message: string };

export type FileRead =
  | { status: 'file'; signature: string; text: string }
  | { status: 'absent' }
  | { status: 'error'; message: string };

function errorCode(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string'
    ? err.code
    : undefined;
}

// ENOENT/ENOTDIR: the file went away between listing and reading, which is the same as removing it.
function isGone(err: unknown): boolean {
  const code = errorCode(err);
  return code === 'ENOENT' || code === 'ENOTDIR';
}

/** Identity and version of a file; changes whenever the file is rewritten, replaced or chmod'ed. */
function signature(st: BigIntStats): string {
  return `${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`;
}

export async function probeFile(path: string): Promise<FileProbe> {
  try {
    const st = await stat(path, { bigint: true });
    return st.isFile() ? { status: 'file', signature: signature(st) } : { status: 'absent' };
  } catch (err) {
    return isGone(err) ? { status: 'absent' } : { status: 'error', message: errorMessage(err) };
  }
}

export async function readManifestFile(path: string): Promise<FileRead> {
  let handle: Awaited<ReturnType<typeof open>> | undefined;
  try {
    // O_NONBLOCK: a FIFO named *.yaml must not hang the source; it is rejected by the isFile check.
    handle = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
    const st = await handle.stat({ bigint: true });
    if (!st.isFile()) return { status: 'absent' };
    if (st.size > BigInt(MAX_MANIFEST_BYTES)) {
      return { status: 'error', message: `file is larger than ${MAX_MANIFEST_BYTES} bytes` };
    }
    const text = await handle.readFile({ encoding: 'utf8' });
    return { status: 'file', signature: signature(st), text };
  } catch (err) {
    return isGone(err) ? { status: 'absent' } : { status: 'error', message: errorMessage(err) };
  } finally {
    await handle?.close().catch(() => {});
  }
}
