#!/bin/sh
# PID 1 of a user-mode-linux guest (see README.md). The root is the host's / over hostfs, mounted
# read-only; the one writable host directory is $UMLOUT (kernel argument), mounted on /run/out. It
# holds cmd.sh (the command, written by the host) and receives rc (its exit status). The command's
# output goes to /dev/tty1, which the host wires to a pipe (con1=null,fd:3), so the host reads it
# live even when the guest hangs. Never exit: PID 1 exiting panics the kernel.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
out=/dev/tty1
say() { echo "uml-init: $*" >"$out"; }
# The checkout (this script's), found while the host's /tmp is still visible: a clone under /tmp
# (or /run, /var/tmp, /dev/shm) is hidden by the tmpfs mounts below and exposed again, read-only.
repo=$(cd "$(dirname "$0")/../.." && pwd)

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mountpoint -q /dev || mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /dev/shm
# Guest-only scratch; hides the host's /tmp, so nothing a test writes there reaches the host.
for d in /run /tmp /var/tmp; do mount -t tmpfs tmpfs "$d"; done
if [ ! -e "$repo/test/uml/init.sh" ]; then
  mkdir -p "$repo" && mount -r -t hostfs -o "$repo" hostfs "$repo"
fi
stty -F "$out" raw -echo 2>/dev/null
ip link set lo up
mkdir /run/out && mount -t hostfs -o "$UMLOUT" hostfs /run/out

# The stock kernel is modular and its modules live in /usr/lib/uml/modules/<release>. modprobe (and
# the kernel's autoload, which runs modprobe) look in /lib/modules/<release>, which the read-only
# root does not have: a guest-only overlay on /usr/lib provides the mount point, the host is untouched.
K=$(uname -r)
M=/usr/lib/uml/modules/$K
if [ -d "$M" ]; then
  insmod "$M/kernel/fs/overlayfs/overlay.ko"
  mkdir -p /run/ov/u /run/ov/w
  mount -t overlay overlay -o lowerdir=/usr/lib,upperdir=/run/ov/u,workdir=/run/ov/w /usr/lib
  mkdir -p "/usr/lib/modules/$K" && mount -t hostfs -o "$M" hostfs "/usr/lib/modules/$K"
  # What IPVS and iptables mode use, loaded up front (autoload would get most of them later, one
  # modprobe process each): ip_vs_* are IPVS's schedulers; xt_* and ipt_/ip6t_ the matches and targets of kube-proxy's
  # iptables rules (IPVS mode's included: xt_ipvs, xt_set); ip_set_* the set types it creates.
  # br_netfilter up front, as on a real node: IPVS mode's external-IP rules use xt_physdev, which
  # loads br_netfilter on its first rule; loaded then, its bridge-nf-call-* keys appear (on) in a
  # sandbox node created while they did not exist, and hairpin flows get bridged and lost.
  want="ipv6 overlay nfnetlink nf_conntrack nf_conntrack_netlink nf_nat
    ip_vs ip_vs_rr ip_vs_wrr ip_vs_lc ip_vs_wlc ip_vs_lblc ip_vs_lblcr ip_vs_dh ip_vs_sh ip_vs_sed
    ip_vs_nq ip_vs_mh ip_vs_fo ip_vs_ovf
    ip_tables iptable_nat iptable_filter iptable_mangle iptable_raw ipt_REJECT
    ip6_tables ip6table_nat ip6table_filter ip6table_mangle ip6table_raw ip6t_REJECT
    xt_comment xt_mark xt_conntrack xt_addrtype xt_multiport xt_statistic xt_recent xt_tcpudp
    xt_sctp xt_nat xt_MASQUERADE xt_REDIRECT xt_CT xt_ipvs xt_set xt_connmark xt_limit xt_physdev
    ip_set ip_set_hash_ip ip_set_hash_ipport ip_set_hash_ipportip ip_set_hash_ipportnet
    ip_set_hash_net ip_set_hash_netport ip_set_bitmap_port
    dummy veth bridge br_netfilter sctp $(echo "$UMLMODULES" | tr , ' ')"
  # One process: modprobe -a warns about a name the kernel lacks and loads the rest.
  modprobe -a $want 2>"$out" || say "some modules are not available (above)"
fi

# The host's iptables is iptables-nft, which the stock guest kernel cannot serve (no nftables for
# IP): tools that run plain `iptables` get the legacy variant here.
mkdir /run/legacy-iptables
for t in iptables iptables-save iptables-restore ip6tables ip6tables-save ip6tables-restore; do
  ln -s /usr/sbin/xtables-legacy-multi "/run/legacy-iptables/$t"
done
export PATH=/run/legacy-iptables:$PATH

say "ready in $(cut -d' ' -f1 /proc/uptime) s"
cd /run && sh /run/out/cmd.sh >"$out" 2>&1 </dev/null
echo $? >/run/out/rc
umount /run/out
poweroff -f
