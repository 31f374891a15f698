// The differential against upstream kube-proxy v1.37.2 in IPVS mode, inside a UML guest: etcd,
// kube-apiserver, upstream's kube-proxy and ours all run there (test/reference/differential.test.ts
// with KPTS_TEST_DIFFERENTIAL_MODES=ipvs).
import { guestTests } from './guest-tests.ts';
import { GUEST_DIFFERENTIAL } from './suite.ts';

guestTests([GUEST_DIFFERENTIAL]);
