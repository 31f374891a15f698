#!/usr/bin/env bash
# Installs what kube-proxy-ts needs on a fresh Debian machine: the kernel's netfilter tools (when
# root and missing) and the npm packages, including the pinned Node.js 24 (npm package "node").
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
# socat: SCTP echo servers and probes in the kernel tests (Node has no SCTP sockets). strace: the
# nft-netlink equivalence test reads the batch nft itself sends.
# mmdebstrap, buildah, podman, runc, strip: the container image (scripts/image.sh and test/image/).
# linux.uml (user-mode-linux), ipvsadm, modprobe (kmod): the UML guest that runs IPVS mode's kernel tests
# (test/uml/: the guest runs the host's binaries, its modprobe included, over a read-only hostfs).
for tool in nft:nftables iptables:iptables iptables-legacy:iptables iptables-nft:iptables ipset:ipset conntrack:conntrack ip:iproute2 socat:socat \
  strace:strace mmdebstrap:mmdebstrap buildah:buildah podman:podman runc:runc strip:binutils \
  linux.uml:user-mode-linux ipvsadm:ipvsadm modprobe:kmod; do
  command -v "${tool%%:*}" >/dev/null 2>&1 || missing+=("${tool##*:}")
done
if ((${#missing[@]})); then
  if [[ $(id -u) -eq 0 ]]; then
    echo "setup: installing ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "setup: missing ${missing[*]}; run as root to install them (kernel tests need them)" >&2
  fi
fi

# npm ci only when the lockfile changed since the last install, so repeated runs are quick.
if [[ ! -x node_modules/.bin/node || ! -f node_modules/.package-lock.json || package-lock.json -nt node_modules/.package-lock.json ]]; then
  echo "setup: npm ci" >&2
  npm ci --no-audit --no-fund --loglevel=error >&2
fi
node_modules/.bin/node --version | grep -q '^v24\.' || { echo "setup: node_modules/.bin/node is not Node.js 24" >&2; exit 1; }
