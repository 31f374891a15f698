// The randomised differential against upstream kube-proxy v1.37.2 in IPVS mode, inside a UML guest
// (test/reference/random-differential.test.ts with KPTS_TEST_RANDOM_MODES=ipvs).
import { guestTests } from './guest-tests.ts';
import { GUEST_RANDOM_DIFFERENTIAL } from './suite.ts';

guestTests([GUEST_RANDOM_DIFFERENTIAL]);
