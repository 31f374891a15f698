#!/bin/sh
# Fills Node's compile cache of the image at build time (scripts/image.sh and deploy/Dockerfile run
# this inside the image being built). Every module is imported before the flags are parsed, so a
# --version run compiles them all. Its type-stripped sources are the same in every run; its V8 code
# caches are not (they hold hashes under V8's random per-process hash seed, and a fixed --hash-seed
# would change the cache's version tag and weaken V8's hash-flooding defence). Two runs fill two
# caches and only the entries both wrote alike are kept: the build stays reproducible, and the first
# start of a container writes the V8 part.
set -eu
cache=/opt/kube-proxy-ts/.cache/node-compile
rm -rf /tmp/cc1 /tmp/cc2 "$cache"
NODE_COMPILE_CACHE=/tmp/cc1 /usr/local/bin/kube-proxy --version >&2
NODE_COMPILE_CACHE=/tmp/cc2 /usr/local/bin/kube-proxy --version >/dev/null
cd /tmp/cc1
for f in */*; do cmp -s "$f" "/tmp/cc2/$f" || rm "$f"; done
mkdir -p "$cache"
mv /tmp/cc1/* "$cache/"
rm -rf /tmp/cc1 /tmp/cc2
echo "image: compile cache: kept $(ls "$cache"/*/ | wc -l) reproducible entries" >&2
