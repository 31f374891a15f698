#!/bin/sh
# /usr/local/bin/kube-proxy in the image: the path kubeadm's DaemonSet runs, so that switching from
# upstream changes only the image. The same V8 flag and compile cache as bin/kube-proxy-ts; the
# cache is filled when the image is built (an unwritable directory only means no cache).
export NODE_COMPILE_CACHE="${NODE_COMPILE_CACHE:-/opt/kube-proxy-ts/.cache/node-compile}"
exec /usr/local/bin/node --max-semi-space-size=2 /opt/kube-proxy-ts/src/cmd/kube-proxy.ts "$@"
