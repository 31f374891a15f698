#!/usr/bin/env bash
# Builds the kube-proxy-ts container image without a container registry:
#
#   1. a Debian root filesystem from Debian's packages (mmdebstrap), every package at the version
#      deploy/image.lock pins: the netfilter tools kube-proxy drives and what Node.js links;
#   2. Node.js 24 from the npm package "node" (the version package-lock.json pins), stripped;
#   3. the production dependencies (npm ci --omit=dev, without type declarations, source maps and
#      Markdown) and src/, with Node's compile cache filled by a --version run at build time;
#
# assembled with buildah into an OCI image of two layers (root filesystem + node; the application),
# reproducible: the same lock, source and SOURCE_DATE_EPOCH give the same image ID. No compilers and
# no npm in the image. deploy/Dockerfile builds an equivalent image where a registry is reachable.
#
#   scripts/image.sh [--tag NAME] [--save FILE]   build (as root); --save writes a docker-archive
#   scripts/image.sh --lock                       re-resolve deploy/image.lock from the mirror, then build
#   scripts/image.sh --podman-args                print the global podman flags that find the image and
#                                                 run it here (store, runtime; one a line)
#
# The root filesystem is cached by the lock's content in $KPTS_IMAGE_CACHE (default
# /var/cache/kube-proxy-ts/image), next to the image store, outside the clone. SOURCE_DATE_EPOCH
# (default: the time of the last commit) dates the application layer; the lock's epoch dates the base.
set -euo pipefail
cd "$(dirname "$0")/.."

CACHE=${KPTS_IMAGE_CACHE:-/var/cache/kube-proxy-ts/image}
# The run root (locks, mounts) is in /run, one per store, as each store needs its own.
STORAGE_ARGS=(--root "$CACHE/storage" --runroot "/run/kube-proxy-ts/image-$(printf %s "$CACHE" | sha256sum | cut -c1-8)"
  --storage-driver "${KPTS_IMAGE_STORAGE_DRIVER:-overlay}")
# runc, not crun: crun 1.8 (bookworm) refuses hosts with hybrid cgroups (v1 controllers + unified),
# which this machine kind has; cgroupfs, as systemd is not PID 1 there.
PODMAN_ARGS=("${STORAGE_ARGS[@]}" --runtime runc --cgroup-manager cgroupfs)
LOCK=deploy/image.lock
MIRROR=${KPTS_DEBIAN_MIRROR:-http://deb.debian.org/debian}
SECURITY_MIRROR=${KPTS_DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
VERSION=$(sed -n 's/^ *"version": *"\([^"]*\)".*/\1/p' package.json | head -1)
TAG=localhost/kube-proxy-ts:v$VERSION
SAVE=
RELOCK=0

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }
while (($#)); do
  case $1 in
    --tag) TAG=$2; shift 2 ;;
    --save) SAVE=$2; shift 2 ;;
    --lock) RELOCK=1; shift ;;
    --podman-args) printf '%s\n' "${PODMAN_ARGS[@]}"; exit 0 ;;
    -h | --help) usage; exit 0 ;;
    *) echo "image: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
[[ $(id -u) -eq 0 ]] || { echo "image: needs root (mmdebstrap and buildah run rootful)" >&2; exit 1; }
bash scripts/setup.sh
started=$SECONDS
log() { printf 'image: %s\n' "$*" >&2; }

mkdir -p "$CACHE/rootfs"
# One build at a time per cache (a test and a user may start one together).
exec 9>"$CACHE/build.lock"
flock 9

# Only the docs' copyright files are kept (as Debian's slim images do).
MMDEBSTRAP_OPTS=(
  --quiet --skip=output/dev
  --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/info/*'
  --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-exclude=/usr/share/lintian/*'
  --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright'
)
lock_field() { sed -n "s/^$1: *//p" "$LOCK"; }
suite=$(lock_field suite)
sources="deb $MIRROR $suite main
deb $MIRROR $suite-updates main
deb $SECURITY_MIRROR $suite-security main"
installed() { tar -xOf "$1" ./var/lib/dpkg/status | awk '/^Package:/ { p = $2 } /^Version:/ { print p "=" $2 }' | sort; }

tmp=$(mktemp -d "$CACHE/tmp.XXXXXX")
containers=()
cleanup() {
  for c in "${containers[@]}"; do buildah "${STORAGE_ARGS[@]}" rm "$c" >/dev/null 2>&1 || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT

if ((RELOCK)); then
  # The direct packages, resolved with their dependencies and Debian's Essential set to the
  # mirror's current versions.
  include=$(lock_field include)
  log "resolving $include on $suite"
  mmdebstrap "${MMDEBSTRAP_OPTS[@]}" --variant=essential --include="${include// /,}" "$suite" "$tmp/resolve.tar" "$sources"
  epoch=${SOURCE_DATE_EPOCH:-$(date +%s)}
  {
    sed -n '/^#/p' "$LOCK"
    echo "suite: $suite"
    echo "epoch: $epoch"
    echo "include: $include"
    installed "$tmp/resolve.tar"
  } >"$tmp/image.lock"
  mv "$tmp/image.lock" "$LOCK"
  log "wrote $LOCK ($(grep -c = "$LOCK") packages, epoch $epoch)"
fi

# --- 1. the root filesystem, cached by the lock ------------------------------------------------
epoch=$(lock_field epoch)
mapfile -t packages < <(grep -E '^[a-z0-9][a-z0-9+.-]*=' "$LOCK")
((${#packages[@]})) || { echo "image: $LOCK pins no packages" >&2; exit 1; }
key=$({ cat "$LOCK"; mmdebstrap --version; printf '%s\n' "${MMDEBSTRAP_OPTS[@]}"; } | sha256sum | cut -c1-16)
rootfs=$CACHE/rootfs/$key.tar
if [[ ! -f $rootfs ]]; then
  log "root filesystem: mmdebstrap $suite, ${#packages[@]} pinned packages"
  # Exactly the pinned packages (custom variant), dated by the lock: the same lock gives the same tar.
  if ! SOURCE_DATE_EPOCH=$epoch mmdebstrap "${MMDEBSTRAP_OPTS[@]}" --variant=custom \
    --include="$(IFS=,; echo "${packages[*]}")" "$suite" "$tmp/rootfs.tar" "$sources" 2>"$tmp/mmdebstrap.err"; then
    cat "$tmp/mmdebstrap.err" >&2
    if grep -q "was not found\|has no installation candidate\|Unable to locate" "$tmp/mmdebstrap.err"; then
      echo "image: a version $LOCK pins is no longer on the mirror (a Debian point release or security" >&2
      echo "image: update replaced it): run 'scripts/image.sh --lock' and commit deploy/image.lock" >&2
    fi
    exit 1
  fi
  if ! diff <(printf '%s\n' "${packages[@]}" | sort) <(installed "$tmp/rootfs.tar") >"$tmp/diff"; then
    echo "image: the root filesystem does not hold exactly the pinned packages:" >&2
    cat "$tmp/diff" >&2
    exit 1
  fi
  rm -f "$CACHE"/rootfs/*.tar
  mv "$tmp/rootfs.tar" "$rootfs"
else
  log "root filesystem: cached ($rootfs)"
fi

# --- 2. Node.js from the npm package "node" ------------------------------------------------------
node_version=$(node_modules/.bin/node -p 'require("./package-lock.json").packages["node_modules/node"].version')
node_elf=$(readlink -f node_modules/.bin/node)
[[ $(head -c4 "$node_elf" | od -An -c | tr -d ' ') == '177ELF' ]] || { echo "image: $node_elf is not an ELF binary" >&2; exit 1; }
[[ $("$node_elf" --version) == "v$node_version" ]] || { echo "image: $node_elf is not Node.js $node_version (npm ci)" >&2; exit 1; }
# Symbols and DWARF are 18 MB of the binary's 127 MB; nothing at run time reads them.
strip --strip-all -o "$tmp/node" "$node_elf"
chmod 0755 "$tmp/node"

# The base image: root filesystem + node. It changes only with the lock or Node's version, so its
# layer is shared by every build (and pulled once by a node).
base=localhost/kube-proxy-ts-base:$({ echo "$key"; sha256sum <"$tmp/node"; } | sha256sum | cut -c1-16)
if ! buildah "${STORAGE_ARGS[@]}" inspect --type image "$base" >/dev/null 2>&1; then
  log "base layer: root filesystem + node $node_version"
  ctr=$(buildah "${STORAGE_ARGS[@]}" from --quiet scratch)
  containers+=("$ctr")
  buildah "${STORAGE_ARGS[@]}" add --quiet "$ctr" "$rootfs" /
  buildah "${STORAGE_ARGS[@]}" add --quiet --chmod 0755 "$ctr" "$tmp/node" /usr/local/bin/node
  buildah "${STORAGE_ARGS[@]}" commit --quiet --format oci --timestamp "$epoch" --rm "$ctr" "$base" >/dev/null
  containers=()
  # Older bases are of no use once a new one exists.
  buildah "${STORAGE_ARGS[@]}" images --format '{{.Name}}:{{.Tag}}' | grep '^localhost/kube-proxy-ts-base:' | grep -vx "$base" |
    xargs -r buildah "${STORAGE_ARGS[@]}" rmi >/dev/null 2>&1 || true
else
  log "base layer: cached ($base)"
fi

# --- 3. the application --------------------------------------------------------------------------
app=$tmp/app
mkdir -p "$app"
chmod 0755 "$app"
cp package.json package-lock.json "$app/"
log "npm ci --omit=dev"
(cd "$app" && npm ci --omit=dev --ignore-scripts --no-audit --no-fund --loglevel=error >&2)
# Read by tsc and editors, never by node: about half of node_modules.
find "$app/node_modules" -type f \( -name '*.d.ts' -o -name '*.d.mts' -o -name '*.d.cts' -o -name '*.map' -o -name '*.md' \) -delete
# src/ without the sandbox of the tests and demo, and without the design notes.
tar -c --exclude=src/sandbox --exclude='*.md' src | tar -x -C "$app"

ctr=$(buildah "${STORAGE_ARGS[@]}" from --quiet --pull-never "$base")
containers+=("$ctr")
buildah "${STORAGE_ARGS[@]}" add --quiet "$ctr" "$app" /opt/kube-proxy-ts
buildah "${STORAGE_ARGS[@]}" add --quiet --chmod 0755 "$ctr" deploy/kube-proxy.sh /usr/local/bin/kube-proxy
run_in() { buildah "${STORAGE_ARGS[@]}" run --runtime runc --isolation oci --network none "$ctr" -- "$@"; }
run_in ln -s kube-proxy /usr/local/bin/kube-proxy-ts
# Node's compile cache, filled at build time with its reproducible entries only (see the script).
run_in /bin/sh -c "$(cat deploy/fill-compile-cache.sh)"
sde=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || echo "$epoch")}
revision=$(git rev-parse HEAD 2>/dev/null || echo unknown)
[[ -z $(git status --porcelain -- src package.json package-lock.json deploy scripts/image.sh 2>/dev/null) ]] || revision+=-dirty
buildah "${STORAGE_ARGS[@]}" config \
  --entrypoint '["/usr/local/bin/kube-proxy"]' --workingdir / \
  --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  --label org.opencontainers.image.title=kube-proxy-ts \
  --label org.opencontainers.image.version="$VERSION" \
  --label org.opencontainers.image.revision="$revision" \
  --label org.opencontainers.image.licenses=Apache-2.0 \
  --label org.opencontainers.image.base.name="debian:$suite (deploy/image.lock)" \
  "$ctr"
id=$(buildah "${STORAGE_ARGS[@]}" commit --quiet --format oci --timestamp "$sde" --rm "$ctr" "$TAG")
containers=()
# Earlier builds of this tag are left untagged: of no use, and 40 MB each.
buildah "${STORAGE_ARGS[@]}" rmi --prune >/dev/null 2>&1 || true

size=$(podman "${PODMAN_ARGS[@]}" image inspect --format '{{.Size}}' "$TAG")
log "built $TAG in $((SECONDS - started)) s: id ${id:0:12}, $((size / 1000000)) MB uncompressed"
if [[ -n $SAVE ]]; then
  rm -f "$SAVE"
  buildah "${STORAGE_ARGS[@]}" push --quiet "$TAG" "docker-archive:$SAVE:$TAG"
  log "saved to $SAVE ($(($(stat -c %s "$SAVE") / 1000000)) MB): load it with 'ctr -n k8s.io images import', 'podman load' or 'docker load'"
fi
echo "$TAG"
