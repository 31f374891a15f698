#!/bin/sh
# Runs inside the guest (guest.test.ts): proves with real traffic between network namespaces that
# the guest kernel has what IPVS mode needs. Prints "PASS <check>: <detail>" or "FAIL <check>:
# <detail>" per check; exits 1 if any failed. Every client runs under timeout (an unanswered SCTP
# connect can hang), and the number of processes is kept low: the guest has one slow CPU.
#
#   client ns 198.18.1.2 / fd00:19::2 --cl0-- guest root ns (the node) --br0-- be1, be2, pod ns
#   node: br0 198.18.0.1/24 fd00:18::1/64, cl0 198.18.1.1/24 fd00:19::1/64, kube-ipvs0 holds the VIPs
set -u
failed=0
pass() { echo "PASS $1: $2"; }
fail() { echo "FAIL $1: $2"; failed=1; }
must() { "$@" || { echo "setup failed: $*"; exit 1; }; }
in_ns() { ns=$1; shift; ip netns exec "$ns" "$@"; }

VIP4=198.19.0.10 VIP6=fd00:96::10
SET4=198.19.0.20 SET6=fd00:96::20
# The client's IPv6 address (fd00:19::2) as socat's $SOCAT_PEERADDR spells it.
CLIENT6='[fd00:0019:0000:0000:0000:0000:0000:0002]'

# --- topology
must sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1 net.ipv6.conf.all.accept_dad=0 \
  net.ipv6.conf.default.accept_dad=0 net.ipv4.vs.conntrack=1
must ip link add br0 type bridge
must ip addr add 198.18.0.1/24 dev br0
must ip addr add fd00:18::1/64 dev br0 nodad
must ip link set br0 up
for n in be1:11 be2:12 pod:30; do
  ns=${n%%:*} host=${n#*:}
  must ip netns add "$ns"
  must ip link add "veth-$ns" type veth peer name eth0 netns "$ns"
  must ip link set "veth-$ns" master br0 up
  must ip -n "$ns" -b - <<EOF
link set lo up
addr add 198.18.0.$host/24 dev eth0
addr add fd00:18::$host/64 dev eth0 nodad
link set eth0 up
route add default via 198.18.0.1
route add ::/0 via fd00:18::1
EOF
done
must ip netns add client
must ip link add cl0 type veth peer name eth0 netns client
must ip addr add 198.18.1.1/24 dev cl0
must ip addr add fd00:19::1/64 dev cl0 nodad
must ip link set cl0 up
must ip -n client -b - <<EOF
link set lo up
addr add 198.18.1.2/24 dev eth0
addr add fd00:19::2/64 dev eth0 nodad
link set eth0 up
route add default via 198.18.1.1
route add ::/0 via fd00:19::1
EOF

# --- backends: each answers "<name> <client address>" on port 8080, TCP, UDP and SCTP, both families
for be in be1 be2; do
  # ipv6only: an IPv6 socket on [::]:8080 would otherwise take the IPv4 port as well.
  for l in TCP4-LISTEN:8080,fork,reuseaddr TCP6-LISTEN:8080,fork,reuseaddr,ipv6only=1 \
    SCTP4-LISTEN:8080,fork,reuseaddr SCTP6-LISTEN:8080,fork,reuseaddr,ipv6only=1 \
    UDP4-RECVFROM:8080,fork UDP6-RECVFROM:8080,fork,ipv6only=1; do
    in_ns "$be" socat "$l" SYSTEM:"echo $be \$SOCAT_PEERADDR" &
  done
done
for be in be1 be2; do
  i=0
  until [ "$(in_ns "$be" ss -Hln -t -u -S | grep -c ':8080 ')" -ge 6 ]; do
    i=$((i + 1)); [ $i -lt 50 ] || { echo "setup failed: $be listeners not up"; exit 1; }
    sleep 0.1
  done
done

# --- IPVS: one round-robin virtual server per protocol and family, both backends masqueraded
must ip link add kube-ipvs0 type dummy
must ip addr add $VIP4/32 dev kube-ipvs0
must ip addr add $VIP6/128 dev kube-ipvs0 nodad
must ip link set kube-ipvs0 up
must ipvsadm -R <<EOF
-A -t $VIP4:80 -s rr
-a -t $VIP4:80 -r 198.18.0.11:8080 -m
-a -t $VIP4:80 -r 198.18.0.12:8080 -m
-A -u $VIP4:80 -s rr
-a -u $VIP4:80 -r 198.18.0.11:8080 -m
-a -u $VIP4:80 -r 198.18.0.12:8080 -m
-A --sctp-service $VIP4:80 -s rr
-a --sctp-service $VIP4:80 -r 198.18.0.11:8080 -m
-a --sctp-service $VIP4:80 -r 198.18.0.12:8080 -m
-A -t [$VIP6]:80 -s rr
-a -t [$VIP6]:80 -r [fd00:18::11]:8080 -m
-a -t [$VIP6]:80 -r [fd00:18::12]:8080 -m
-A -u [$VIP6]:80 -s rr
-a -u [$VIP6]:80 -r [fd00:18::11]:8080 -m
-a -u [$VIP6]:80 -r [fd00:18::12]:8080 -m
-A --sctp-service [$VIP6]:80 -s rr
-a --sctp-service [$VIP6]:80 -r [fd00:18::11]:8080 -m
-a --sctp-service [$VIP6]:80 -r [fd00:18::12]:8080 -m
EOF

# One request from a namespace; prints the answer ("be1 198.18.1.2") or nothing. Stream sockets
# only read (-u): the backend answers on connect, and closing the sending side first would end an
# SCTP association before the answer (SCTP has no half-close). UDP sends one datagram and waits
# 5 s for the answer (UDP has no end: socat always waits that long). Generous limits: the host
# may be loaded, and a guest's CPU share with it.
ask() { # ns socat-address
  case "$2" in
    UDP*) echo ping | in_ns "$1" timeout 10 socat -t 5 - "$2" 2>/dev/null | head -n 1 ;;
    *) in_ns "$1" timeout 15 socat -T 10 -u "$2,connect-timeout=10" - 2>/dev/null | head -n 1 ;;
  esac
}

# Two requests at once must be answered by both backends (round robin), each seeing the client's
# address.
ipvs_check() { # check-name socat-address client-address
  ask client "$2" >/tmp/ask-a &
  pa=$!
  ask client "$2" >/tmp/ask-b &
  wait "$pa" $!
  a=$(cat /tmp/ask-a) b=$(cat /tmp/ask-b)
  case "$a|$b" in
    "be1 $3|be2 $3" | "be2 $3|be1 $3") pass "$1" "$a / $b" ;;
    *) fail "$1" "answers: '$a' / '$b' (want be1 and be2, each from $3)" ;;
  esac
}
ipvs_check ipvs-tcp-ipv4 "TCP4:$VIP4:80" 198.18.1.2
ipvs_check ipvs-udp-ipv4 "UDP4:$VIP4:80" 198.18.1.2
ipvs_check ipvs-sctp-ipv4 "SCTP4:$VIP4:80" 198.18.1.2
ipvs_check ipvs-tcp-ipv6 "TCP6:[$VIP6]:80" "$CLIENT6"
ipvs_check ipvs-udp-ipv6 "UDP6:[$VIP6]:80" "$CLIENT6"
ipvs_check ipvs-sctp-ipv6 "SCTP6:[$VIP6]:80" "$CLIENT6"

# --- iptables-legacy: `iptables` in the guest is the legacy variant (the host's is iptables-nft)
v=$(iptables -V)
case "$v" in *legacy*) pass iptables-is-legacy "$v" ;; *) fail iptables-is-legacy "$v" ;; esac

# A pod on the backends' bridge needs kube-proxy's masquerade (-m ipvs) or the backend answers it
# directly; with it the backend sees the node's bridge address.
must iptables -t nat -A POSTROUTING -m ipvs --vaddr $VIP4/32 --vport 80 -j MASQUERADE
a=$(ask pod "TCP4:$VIP4:80")
case "$a" in
  "be1 198.18.0.1" | "be2 198.18.0.1") pass ipvs-masquerade-ipv4 "$a" ;;
  *) fail ipvs-masquerade-ipv4 "answer '$a' (want a backend seeing 198.18.0.1)" ;;
esac

# --- ipset + iptables-legacy nat: a DNAT that applies only to destinations in a hash:ip,port set
must ip addr add $SET4/32 dev kube-ipvs0
must ip addr add $SET6/128 dev kube-ipvs0 nodad
must ipset create KUBE-TEST hash:ip,port
must ipset add KUBE-TEST $SET4,tcp:80
must ipset create KUBE-6-TEST hash:ip,port family inet6
must ipset add KUBE-6-TEST "$SET6,tcp:80"
must iptables -t nat -A PREROUTING -m set --match-set KUBE-TEST dst,dst -p tcp -j DNAT --to-destination 198.18.0.12:8080
must ip6tables -t nat -A PREROUTING -m set --match-set KUBE-6-TEST dst,dst -p tcp -j DNAT --to-destination "[fd00:18::12]:8080"
for fam in 4 6; do
  if [ $fam = 4 ]; then dst=$SET4 addr="TCP4:$SET4" want="be2 198.18.1.2"; else dst=$SET6 addr="TCP6:[$SET6]" want="be2 $CLIENT6"; fi
  a=$(ask client "$addr:80")
  # Port 81 is not in the set: no DNAT, and nothing listens on the node: refused.
  b=$(ask client "$addr:81")
  if [ "$a" = "$want" ] && [ -z "$b" ]; then pass "ipset-dnat-ipv$fam" "$dst:80 -> '$a', $dst:81 not translated"
  else fail "ipset-dnat-ipv$fam" "$dst:80 -> '$a' (want '$want'); $dst:81 -> '$b' (want no answer)"; fi
done

echo "--- ipvsadm -Ln --stats"
ipvsadm -Ln --stats
exit $failed
