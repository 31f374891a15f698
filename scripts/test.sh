#!/usr/bin/env bash
# The whole test suite: typecheck, lint, unit tests and (as root) real-kernel tests in throwaway
# network namespaces. Installs what it needs first. Under CI=true a test that cannot run fails.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$PWD/node_modules/.bin:$PATH"
echo "== typecheck"; tsc --noEmit -p .
echo "== lint"; biome check .
echo "== tests"
exec node --test --test-concurrency=2 --test-reporter=spec 'test/**/*.test.ts'
