#!/usr/bin/env bash
# Builds the reference binaries for the tests in test/reference/: kube-apiserver, upstream kube-proxy,
# kubectl (k8s.io/kubernetes) and etcd (go.etcd.io/etcd/server/v3, the version the Kubernetes release
# pins in build/dependencies.yaml), from the Go module proxy, into a cache directory OUTSIDE the clone:
#
#   ${KPTS_REF_CACHE:-/var/cache/kube-proxy-ts/reference}/k8s-v<K8S>_etcd-v<ETCD>/
#
# The versions come from the committed wrapper modules test/reference/go/{k8s,etcd}/go.mod (with their
# go.sum, so every download is checksum-verified against the committed sums). When the four binaries
# are present the script exits at once. The cache path is the only thing printed on stdout; progress
# goes to stderr. Go's module and build caches for this build live under the cache root too (go/mod,
# go/build), so the whole footprint is in one place; `--prune` drops them after a build.
#
#   scripts/build-reference.sh            build if needed, print the binary directory
#   scripts/build-reference.sh --check    print the directory if complete, else exit 1 (no Go needed)
#   scripts/build-reference.sh --prune    build if needed, then remove Go's module and build caches
#   K8S_VERSION=1.37.2 scripts/build-reference.sh --regen
#                                         rewrite test/reference/go/*/go.{mod,sum} for another release
#                                         (etcd: the release's build/dependencies.yaml, or ETCD_VERSION)
#
# Exit codes: 0 ok, 1 failure, 3 Go toolchain missing (tests skip locally on 3, fail under CI=true).
# Go: $GO, else `go` on PATH, else /usr/local/go/bin/go. Needs Go >= 1.26 and the Go module proxy.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
WRAP_K8S=$ROOT/test/reference/go/k8s
WRAP_ETCD=$ROOT/test/reference/go/etcd
CACHE=${KPTS_REF_CACHE:-/var/cache/kube-proxy-ts/reference}
MODE=${1:-build}

log() { echo "build-reference: $*" >&2; }

# The version a wrapper go.mod requires for a module, read without Go (so --check works without it).
required_version() { awk -v m="$2" '($1 == m || ($1 == "require" && $2 == m)) { v = ($1 == m) ? $2 : $3; print v; exit }' "$1/go.mod"; }

find_go() {
  # GO=/path/to/go picks a toolchain (GO=none pretends there is none, to try the skip path).
  if [[ -n ${GO:-} ]]; then [[ -x $GO ]] && echo "$GO"; return; fi
  if command -v go >/dev/null 2>&1; then command -v go; return; fi
  for g in /usr/local/go/bin/go /usr/lib/go/bin/go; do [[ -x $g ]] && { echo "$g"; return; }; done
  return 1
}

go_env() {
  export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS="-modcacherw -buildvcs=false -mod=readonly"
  export GOMODCACHE=$CACHE/go/mod GOCACHE=$CACHE/go/build GOPATH=$CACHE/go/path
  mkdir -p "$GOMODCACHE" "$GOCACHE" "$GOPATH"
}

regen() {
  local k=${K8S_VERSION:?set K8S_VERSION, e.g. 1.37.2} e go gm dir minor patch
  go=$(find_go) || { log "no Go toolchain"; exit 3; }
  go_env
  export GOFLAGS="-modcacherw -buildvcs=false"
  # The etcd version the release pins (build/dependencies.yaml), unless ETCD_VERSION says otherwise.
  dir=$(cd / && "$go" mod download -json "k8s.io/kubernetes@v$k" | sed -n 's/.*"Dir": "\([^"]*\)".*/\1/p')
  e=${ETCD_VERSION:-$(awk '/name: "etcd"/ { getline; print $2; exit }' "$dir/build/dependencies.yaml")}
  [[ -n $e ]] || { log "no etcd version in $dir/build/dependencies.yaml; set ETCD_VERSION"; exit 1; }
  minor=${k#1.}; minor=${minor%%.*}; patch=${k##*.}
  rm -rf "$WRAP_K8S" "$WRAP_ETCD"; mkdir -p "$WRAP_K8S" "$WRAP_ETCD"
  cd "$WRAP_K8S"
  "$go" mod init kube-proxy-ts/reference/k8s >&2
  "$go" mod edit -go=1.26.0 # any Go 1.26 toolchain; `go get` raises it if a dependency needs more
  gm=$("$go" mod download -json "k8s.io/kubernetes@v$k" | sed -n 's/.*"GoMod": "\([^"]*\)".*/\1/p')
  # k8s.io/kubernetes maps its staging modules (k8s.io/X v0.0.0) to ./staging/...; Go ignores replace
  # directives of dependencies, so point each at its published v0.<minor>.<patch>.
  for m in $(awk '$1 ~ /^k8s\.io\// && $2 == "v0.0.0" { print $1 }' "$gm"); do
    "$go" mod edit -replace="$m=$m@v0.$minor.$patch"
  done
  for d in $(awk '$1 == "godebug" && $2 != "(" { print $2 }' "$gm"); do "$go" mod edit -godebug="$d"; done
  "$go" get -tool "k8s.io/kubernetes/cmd/kube-apiserver@v$k" "k8s.io/kubernetes/cmd/kube-proxy@v$k" \
    "k8s.io/kubernetes/cmd/kubectl@v$k" >&2
  "$go" mod tidy >&2
  cd "$WRAP_ETCD"
  "$go" mod init kube-proxy-ts/reference/etcd >&2
  "$go" mod edit -go=1.26.0
  "$go" get -tool "go.etcd.io/etcd/server/v3@v$e" >&2
  "$go" mod tidy >&2
  log "wrote $WRAP_K8S/go.mod and $WRAP_ETCD/go.mod (k8s v$k, etcd v$e)"
}

[[ $MODE == --regen ]] && { regen; exit 0; }

K8S=$(required_version "$WRAP_K8S" k8s.io/kubernetes)
ETCD=$(required_version "$WRAP_ETCD" go.etcd.io/etcd/server/v3)
[[ -n $K8S && -n $ETCD ]] || { log "cannot read the versions from $WRAP_K8S/go.mod / $WRAP_ETCD/go.mod"; exit 1; }
OUT=$CACHE/k8s-${K8S}_etcd-${ETCD}
BINS=(kube-apiserver kube-proxy kubectl etcd)

complete() {
  local b
  for b in "${BINS[@]}"; do [[ -x $OUT/$b ]] || return 1; done
}

finish() {
  if [[ $MODE == --prune && -d $CACHE/go ]]; then
    rm -rf "$CACHE/go"
    log "removed Go's module and build caches under $CACHE/go"
  fi
  echo "$OUT"
  exit 0
}

if complete; then finish; fi
[[ $MODE == --check ]] && { log "reference binaries missing in $OUT"; exit 1; }

GOCMD=$(find_go) || { log "no Go toolchain (looked at \$GO, PATH, /usr/local/go/bin); install Go >= 1.26 to build the reference binaries"; exit 3; }
gover=$("$GOCMD" env GOVERSION) # go1.26.8
gominor=${gover#go1.}; gominor=${gominor%%.*}
if [[ ! $gominor =~ ^[0-9]+$ ]] || ((gominor < 26)); then
  log "$GOCMD is $gover; the wrapper modules need Go >= 1.26 (GOTOOLCHAIN=local: no toolchain download)"; exit 3
fi
mkdir -p "$CACHE"
# One build at a time (parallel test processes may all ask for the binaries).
exec 9>"$CACHE/.lock"
flock 9
if complete; then finish; fi

go_env
log "building k8s $K8S and etcd $ETCD with $("$GOCMD" version | awk '{print $3}') into $OUT (cold: 10-25 min on 2 cores)"
START=$(date +%s)
TMP=$(mktemp -d "$CACHE/.tmp.XXXXXX")
trap 'rm -rf "$TMP"' EXIT

# Version ldflags, as hack/lib/version.sh sets them, so /version and `kubectl version` report the release.
minor=${K8S#v1.}; minor=${minor%%.*}
mod_time=$(cd "$WRAP_K8S" && "$GOCMD" mod download -json "k8s.io/kubernetes@$K8S" | sed -n 's/.*"Time": "\([^"]*\)".*/\1/p')
LD="-s -w"
for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  LD="$LD -X $p.gitVersion=$K8S -X $p.gitMajor=1 -X $p.gitMinor=$minor -X $p.gitTreeState=clean"
  LD="$LD -X $p.gitCommit=module-$K8S -X $p.buildDate=${mod_time:-1970-01-01T00:00:00Z}"
done
(cd "$WRAP_K8S" && nice -n 15 "$GOCMD" build -trimpath -ldflags "$LD" -o "$TMP/" \
  k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-proxy k8s.io/kubernetes/cmd/kubectl)
(cd "$WRAP_ETCD" && nice -n 15 "$GOCMD" build -trimpath \
  -ldflags "-s -w -X go.etcd.io/etcd/api/v3/version.GitSHA=module-$ETCD" -o "$TMP/etcd" go.etcd.io/etcd/server/v3)

for b in "${BINS[@]}"; do [[ -x $TMP/$b ]] || { log "missing $b after the build"; exit 1; }; done
printf 'kubernetes %s\netcd %s\ngo %s\nbuilt %s in %ss\n' "$K8S" "$ETCD" "$("$GOCMD" env GOVERSION)" \
  "$(date -u +%FT%TZ)" "$(($(date +%s) - START))" >"$TMP/VERSIONS"
chmod 755 "$TMP"
rm -rf "$OUT"
mv "$TMP" "$OUT"
trap - EXIT
log "built in $(($(date +%s) - START))s"
finish
