// Gate for the API source tests: they need the reference binaries (kube-apiserver, etcd,
// kubectl; built by scripts/build-reference.sh) but neither root nor the kernel. Locally a missing
// prerequisite skips the test with the reason; under CI=true it fails the test instead.
import type { TestContext } from 'node:test';
import { type ReferenceBinaries, requireReference } from '../reference/binaries.ts';

export async function requireApiServer(t: TestContext): Promise<ReferenceBinaries | undefined> {
  return requireReference(t, { kernel: false });
}
