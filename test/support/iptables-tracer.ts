// The tracers moved to src/explain/ (they serve `kube-proxy-ts explain` too); tests import them from here.
export * from '../../src/explain/iptables-tracer.ts';
