// The one seam for /proc and /sys writes: tests root it in a temporary directory, so that they
// never touch the host's sysctls.

import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface SysFs {
  /** The trimmed content of an absolute path (under root), or undefined if it cannot be read. */
  read(path: string): string | undefined;
  /** Writes a value; throws (with the errno code) when the kernel refuses. */
  write(path: string, value: string): void;
}

export class RootedFs implements SysFs {
  readonly #root: string;

  constructor(root = '/') {
    this.#root = root;
  }

  read(path: string): string | undefined {
    try {
      return readFileSync(join(this.#root, path), 'utf8').trim();
    } catch {
      return undefined;
    }
  }

  write(path: string, value: string): void {
    writeFileSync(join(this.#root, path), `${value}\n`);
  }
}
