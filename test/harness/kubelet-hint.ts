// kubelet creates KUBE-IPTABLES-HINT in the mangle table of the iptables variant it uses, and
// kube-proxy's variant detection reads it (src/kernel/iptables/detect.ts). The tests plant it as
// kubelet would, with these iptables arguments.
export const KUBELET_HINT_ARGS: readonly string[] = ['-w', '5', '-t', 'mangle', '-N', 'KUBE-IPTABLES-HINT'];
