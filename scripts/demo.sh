#!/usr/bin/env bash
# The main job on the bundled example: a sandbox node of network namespaces, the examples/
# manifests, kube-proxy-ts in nftables mode, and live traffic. Needs root. Ctrl-C stops and cleans up.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec node_modules/.bin/node scripts/demo.ts "$@"
