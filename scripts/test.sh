#!/usr/bin/env bash
# The whole test suite: typecheck, lint, unit tests, real-kernel tests in throwaway network
# namespaces (root), and the reference-cluster tests (real kube-apiserver, etcd and upstream
# kube-proxy, built from Go modules into a cache outside the clone: ~10 min the first time).
# Installs what it needs first. Under CI=true a test that cannot run fails instead of skipping.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$PWD/node_modules/.bin:$PATH"
echo "== typecheck"; tsc --noEmit -p .
echo "== lint"; biome check .
# Built up front, so the ~10-minute cold build does not compete with the timing-sensitive kernel
# tests for the cores. Without Go it exits 3; the reference tests then skip (or fail under CI=true).
echo "== reference binaries"
bash scripts/build-reference.sh || echo "reference binaries not built (exit $?); the reference tests will say why"
# The container image too (a minute from empty caches, seconds after): the image tests then only rebuild
# the application layer. A failure here is reported again, with its reason, by the image tests.
echo "== container image"
bash scripts/image.sh >/dev/null || echo "image not built (exit $?); the image tests will say why"
# The kernel and chaos suites once more per iptables variant (KPTS_TEST_PROXY_MODE,
# test/harness/mode.ts), and once with nftables mode's nft-binary writer; the whole suite, kernel
# and chaos tests in nftables mode (netlink writer) included, runs last so its summary closes the log.
# KPTS_TEST_EXPLAIN=1 (test/kernel/README.md): `explain packet` cross-checked against every §3d case,
# in the nft-variant iptables pass and the last, whole-suite one (nftables mode): ~20 s each.
for variant in nft legacy; do
  echo "== kernel and chaos tests, iptables mode ($variant)"
  explain=0; [[ $variant == nft ]] && explain=1
  KPTS_TEST_PROXY_MODE=iptables KPTS_TEST_IPTABLES_VARIANT=$variant KPTS_TEST_EXPLAIN=$explain \
    node --test --test-concurrency=2 --test-reporter=dot 'test/kernel/**/*.test.ts' 'test/chaos/**/*.test.ts'
done
echo "== kernel tests, nftables mode through the nft binary (--nftables-writer=cli)"
KPTS_TEST_NFTABLES_WRITER=cli node --test --test-concurrency=2 --test-reporter=dot 'test/kernel/**/*.test.ts' 'test/chaos/**/*.test.ts'
# The last pass includes test/uml/: the kernel suite once more inside user-mode-linux guests (the
# only kernel here with IPVS; iptables mode with iptables-legacy today, see test/uml/suite.ts), one
# guest per file, 20-45 min (README.md); with --test-concurrency=2 at most two guests run at once.
echo "== tests"
KPTS_TEST_EXPLAIN=1 exec node --test --test-concurrency=2 --test-reporter=spec 'test/**/*.test.ts'
