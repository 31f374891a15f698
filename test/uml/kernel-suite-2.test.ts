// The kernel suite in IPVS mode inside UML guests, second half (see kernel-suite-1.test.ts).
import { guestTests } from './guest-tests.ts';
import { GUEST_SUITE_FILES, half } from './suite.ts';

guestTests(half(GUEST_SUITE_FILES, 1));
