// By hand: a real etcd + kube-apiserver on 127.0.0.1 (see test/reference/README.md). Builds the
// reference binaries first if needed; prints the kubeconfig paths; Ctrl-C stops and cleans up.
//   ./node_modules/.bin/node scripts/control-plane.ts
import { runByHand } from '../test/reference/control-plane.ts';

await runByHand();
