#!/usr/bin/env bash
# Private libvirt daemons for the lab test tier, no systemd needed (root only).
# Each host NAME gets its own /etc/libvirt, /run/libvirt, /var/lib/libvirt, /var/log/libvirt
# and /var/cache/libvirt, bind-mounted in a private mount namespace, and a libvirtd
# running under tini (a child subreaper, so QEMU processes are reaped at once).
#   scripts/lab.sh start NAME    start (or keep) the daemon; prints its socket URI suffix
#   scripts/lab.sh stop NAME     SIGTERM, wait
#   scripts/lab.sh kill NAME     SIGKILL (a crash)
#   scripts/lab.sh crash-host NAME   daemon and guests killed, runtime dir cleared (a reboot)
#   scripts/lab.sh hang NAME     SIGSTOP (a hung daemon); scripts/lab.sh unhang NAME: SIGCONT
# A host with an address (ECP_LAB_ADDR=10.98.0.N at start) also gets its own network and UTS
# namespace (hostname lab-NAME) with a veth into the bridge ecplab0 (10.98.0.254/24 in the root
# namespace), libvirtd listening on ADDR:16509 (no auth: a private network), and QEMU migration
# listening on ADDR. Two such hosts can migrate machines between each other.
#   qemu+tcp://ADDR/system                                 (from the root namespace)
#   scripts/lab.sh net-cut NAME / net-restore NAME   take the host's link down / up (a partition)
#   scripts/lab.sh net-down NAME                     remove its namespace and veth (bridge last)
#   scripts/lab.sh blackhole NAME [COUNT]    COUNT (default 8) addresses that drop every packet,
#       one per line on stdout (10.97.0.1 ...): a namespace NAME with a veth pair, the addresses
#       routed into it through permanent neighbour entries with a MAC nobody has, so SYNs
#       vanish as on a dead host (connects wait for TCP's own time-out, about 130 s)
#   scripts/lab.sh blackhole-down NAME       remove it
#   scripts/lab.sh delay NAME MS     MS of added latency each way on a network host's link (a far
#       host: RTT + 2 x MS). With tc's netem: a netem qdisc on both ends of its veth. Kernels
#       without sch_netem (CONFIG_NET_SCH_NETEM unset, as on the CI box) get a delay line: the
#       host's address moves from eth0 to a tap (dly0) in its namespace, a tap (ecpd-NAME) joins
#       the bridge, and a small process copies every frame between the two, each MS late (the
#       same packet-level delay; TCP's own slow start and ACK clocking see it). Prints the kind.
#   scripts/lab.sh undelay NAME      remove it (the plain veth path again)
# State lives in $ECP_LAB_DIR (default .ci-state/lab). Clients connect with
#   test+unix:///default?socket=$ECP_LAB_DIR/NAME/run/libvirt-sock   (the test driver, served)
#   qemu+unix:///system?socket=$ECP_LAB_DIR/NAME/run/libvirt-sock    (real QEMU)
set -euo pipefail
cmd=${1:?usage: lab.sh start|stop|kill NAME} name=${2:?host name}
LAB=${ECP_LAB_DIR:-$(cd "$(dirname "$0")/.." && pwd)/.ci-state/lab}
d=$LAB/$name

preflight() {
  [[ $(id -u) -eq 0 ]] || { echo "lab.sh: needs root (private mount namespaces)" >&2; exit 1; }
  # libvirtd resolves its built-in default user "libvirt-qemu" before reading qemu.conf.
  getent group libvirt-qemu >/dev/null || groupadd --system libvirt-qemu
  getent passwd libvirt-qemu >/dev/null || useradd --system -g libvirt-qemu -d /var/lib/libvirt \
    -s /usr/sbin/nologin libvirt-qemu
  for b in libvirtd tini unshare; do command -v $b >/dev/null || { echo "lab.sh: missing $b" >&2; exit 1; }; done
}

BRIDGE=ecplab0 NETNS=ecplab-$name VETH=ecpv-$name
ADDR=${ECP_LAB_ADDR:-$(cat "$d/addr" 2>/dev/null || true)}

write_conf() {
  mkdir -p "$d"/{etc,run,lib,log,cache}
  local listen=""
  [[ -n $ADDR ]] && listen="listen_tls = 0
listen_tcp = 1
listen_addr = \"$ADDR\"
auth_tcp = \"none\""
  cat > "$d/etc/libvirtd.conf" <<CONF
$listen
unix_sock_rw_perms = "0770"
auth_unix_rw = "none"
auth_unix_ro = "none"
host_uuid = "${ECP_LAB_HOST_UUID:-$(cat "$d/host-uuid" 2>/dev/null || python3 -c 'import uuid; print(uuid.uuid4())' | tee "$d/host-uuid")}"
keepalive_interval = 5
keepalive_count = 5
log_level = 3
log_outputs = "3:file:/var/log/libvirt/libvirtd.log"
CONF
  cat > "$d/etc/qemu.conf" <<CONF
user = "root"
group = "root"
dynamic_ownership = 0
remember_owner = 0
security_driver = "none"
cgroup_controllers = [ ]
namespaces = [ ]
stdio_handler = "file"
CONF
  if [[ -n $ADDR ]]; then
    printf 'migration_address = "%s"\nmigration_host = "%s"\nmigration_port_min = 49152\nmigration_port_max = 49215\n' \
      "$ADDR" "$ADDR" >> "$d/etc/qemu.conf"
    printf '127.0.0.1 localhost\n%s lab-%s\n' "$ADDR" "$name" > "$d/etc/hosts"
  fi
}

net_up() {  # the bridge in the root namespace, then this host's namespace and veth
  ip link show $BRIDGE >/dev/null 2>&1 || {
    ip link add $BRIDGE type bridge && ip addr add 10.98.0.254/24 dev $BRIDGE && ip link set $BRIDGE up
  }
  ip netns list | grep -qw "$NETNS" && return 0
  ip netns add "$NETNS"
  ip link add "$VETH" type veth peer name eth0 netns "$NETNS"
  ip link set "$VETH" master $BRIDGE up
  ip -n "$NETNS" addr add "$ADDR/24" dev eth0
  ip -n "$NETNS" link set eth0 up
  ip -n "$NETNS" link set lo up
}

net_down() {
  ip netns del "$NETNS" 2>/dev/null || true
  ip link del "$VETH" 2>/dev/null || true
  # The bridge goes with the last host on it.
  if ip link show $BRIDGE >/dev/null 2>&1 && [[ -z $(ls /sys/class/net/$BRIDGE/brif 2>/dev/null) ]]; then
    ip link del $BRIDGE 2>/dev/null || true
  fi
}

pid_of() { [[ -f $d/run/libvirtd.pid ]] && kill -0 "$(cat "$d/run/libvirtd.pid")" 2>/dev/null && cat "$d/run/libvirtd.pid"; }

HOLE_NETNS=ecphole-$name HOLE_VETH=ecph-$name HOLE_NET=10.97.0

blackhole_up() {  # COUNT addresses whose packets go into a namespace that never answers
  local count=${1:-8}
  ip netns list | grep -qw "$HOLE_NETNS" || {
    ip netns add "$HOLE_NETNS"
    ip link add "$HOLE_VETH" type veth peer name eth0 netns "$HOLE_NETNS"
    ip addr add $HOLE_NET.254/24 dev "$HOLE_VETH"
    ip link set "$HOLE_VETH" up
    ip -n "$HOLE_NETNS" link set eth0 up   # up, no address: frames arrive and are dropped
  }
  for i in $(seq 1 "$count"); do
    # A MAC nobody has: no ARP is asked (the entry is permanent), no host answers.
    ip neigh replace $HOLE_NET.$i lladdr 02:00:00:00:00:fe dev "$HOLE_VETH" nud permanent
    echo $HOLE_NET.$i
  done
}

DELAY_TAP=ecpd-$name DELAY_INNER=dly0


delay_up() {
  local ms=$1
  [[ -n $ADDR ]] && ip netns list | grep -qw "$NETNS" || { echo "lab.sh: $name has no network namespace" >&2; exit 1; }
  command -v tc >/dev/null || { echo "lab.sh: missing tc (iproute2)" >&2; exit 1; }
  delay_down
  if tc qdisc add dev "$VETH" root netem delay "${ms}ms" 2>/dev/null; then
    ip netns exec "$NETNS" tc qdisc add dev eth0 root netem delay "${ms}ms"
    echo netem; return 0
  fi
  local mac
  mac=$(ip -n "$NETNS" -o link show eth0 | sed -n 's/.*link\/ether \([0-9a-f:]*\).*/\1/p')
  ip tuntap add dev "$DELAY_TAP" mode tap
  ip link set "$DELAY_TAP" master $BRIDGE up
  ip -n "$NETNS" tuntap add dev $DELAY_INNER mode tap
  # The address (and MAC, so neighbours' caches stay right) move to the tap; the veth goes down,
  # which also makes the bridge forget where that MAC was.
  ip -n "$NETNS" link set eth0 down
  ip link set "$VETH" down
  ip -n "$NETNS" addr del "$ADDR/24" dev eth0
  ip -n "$NETNS" link set $DELAY_INNER address "$mac" up
  ip -n "$NETNS" addr add "$ADDR/24" dev $DELAY_INNER
  setsid python3 "$(dirname "$0")/lab_delay_line.py" "$DELAY_TAP" "$NETNS" $DELAY_INNER "$ms" > "$d/delay.log" 2>&1 < /dev/null &
  echo $! > "$d/delay.pid"
  for _ in $(seq 1 50); do  # both taps carry once the process holds them
    [[ $(cat /sys/class/net/$DELAY_TAP/carrier 2>/dev/null) == 1 ]] &&
      ip -n "$NETNS" link show $DELAY_INNER | grep -qv NO-CARRIER && break
    sleep 0.1
  done
  kill -0 "$(cat "$d/delay.pid")" 2>/dev/null || { echo "lab.sh: delay line for $name died" >&2; cat "$d/delay.log" >&2; exit 1; }
  echo delay-line
}

delay_down() {  # whichever kind is there; nothing to do when there is none
  tc qdisc del dev "$VETH" root 2>/dev/null || true
  ip netns list | grep -qw "$NETNS" && { ip netns exec "$NETNS" tc qdisc del dev eth0 root 2>/dev/null || true; }
  if [[ -f $d/delay.pid ]]; then
    local pid; pid=$(cat "$d/delay.pid")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    rm -f "$d/delay.pid"
  fi
  ip link del "$DELAY_TAP" 2>/dev/null || true
  if ip netns list | grep -qw "$NETNS" && ip -n "$NETNS" link show $DELAY_INNER >/dev/null 2>&1; then
    ip -n "$NETNS" link del $DELAY_INNER
    ip -n "$NETNS" addr add "$ADDR/24" dev eth0 2>/dev/null || true
    ip -n "$NETNS" link set eth0 up
    ip link set "$VETH" up
  fi
}

case $cmd in
  delay) [[ $(id -u) -eq 0 ]] || { echo "lab.sh: needs root" >&2; exit 1; }; delay_up "${3:?delay in ms}" ;;
  undelay) delay_down ;;
  blackhole) [[ $(id -u) -eq 0 ]] || { echo "lab.sh: needs root" >&2; exit 1; }; blackhole_up "${3:-8}" ;;
  blackhole-down)
    ip netns del "$HOLE_NETNS" 2>/dev/null || true
    ip link del "$HOLE_VETH" 2>/dev/null || true
    ;;
  start)
    preflight
    if pid_of >/dev/null; then echo "?socket=$d/run/libvirt-sock"; exit 0; fi
    write_conf
    rm -f "$d/run/libvirtd.pid" "$d/run/libvirt-sock"
    mkdir -p /run/libvirt /var/lib/libvirt /var/log/libvirt /var/cache/libvirt /etc/libvirt
    launch=(unshare --mount --propagation private) listen="" network=""
    if [[ -n $ADDR ]]; then
      echo "$ADDR" > "$d/addr"
      net_up
      launch=(ip netns exec "$NETNS" unshare --uts --mount --propagation private) listen=--listen
      network="hostname lab-$name; mount --bind '$d/etc/hosts' /etc/hosts"
    fi
    setsid "${launch[@]}" bash -c "
      set -e
      $network
      mount --bind '$d/etc' /etc/libvirt
      mount --bind '$d/run' /run/libvirt
      mount --bind '$d/lib' /var/lib/libvirt
      mount --bind '$d/log' /var/log/libvirt
      mount --bind '$d/cache' /var/cache/libvirt
      exec tini -s -- libvirtd $listen -f /etc/libvirt/libvirtd.conf -p /run/libvirt/libvirtd.pid
    " > "$d/libvirtd.stdout" 2>&1 < /dev/null &
    for _ in $(seq 1 100); do [[ -S $d/run/libvirt-sock ]] && pid_of >/dev/null && break; sleep 0.1; done
    [[ -S $d/run/libvirt-sock ]] || { echo "lab.sh: libvirtd $name did not start" >&2; cat "$d/libvirtd.stdout" >&2; exit 1; }
    echo "?socket=$d/run/libvirt-sock"
    ;;
  stop|kill)
    pid=$(pid_of) && kill -CONT "$pid" 2>/dev/null  # a hung daemon cannot act on TERM
    pid=$(pid_of) || { echo "lab.sh: $name is not running"; exit 0; }
    kill -s "$([[ $cmd == kill ]] && echo KILL || echo TERM)" "$pid"
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    rm -f "$d/run/libvirtd.pid"
    ;;
  crash-host)
    # A host that lost power: the daemon and every guest die at once, and the runtime
    # state (/run/libvirt) is gone as after a reboot; definitions in /etc/libvirt stay.
    pid=$(pid_of) || pid=""
    [[ -n $pid ]] && { kill -KILL "$pid" 2>/dev/null || true; }
    for pidfile in "$d"/run/qemu/*.pid; do
      if [[ -f $pidfile ]]; then kill -KILL "$(cat "$pidfile")" 2>/dev/null || true; fi
    done
    if [[ -n $pid ]]; then
      for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    fi
    find "$d/run" -mindepth 1 -delete
    ;;
  hang|unhang)
    pid=$(pid_of) || { echo "lab.sh: $name is not running" >&2; exit 1; }
    kill -s "$([[ $cmd == hang ]] && echo STOP || echo CONT)" "$pid"
    ;;
  net-cut|net-restore)
    ip link set "$VETH" "$([[ $cmd == net-cut ]] && echo down || echo up)"
    if ip link show "$DELAY_TAP" >/dev/null 2>&1; then  # a delayed host's path is the tap
      ip link set "$VETH" down
      ip link set "$DELAY_TAP" "$([[ $cmd == net-cut ]] && echo down || echo up)"
    fi
    ;;
  net-down) delay_down; net_down ;;
  *) echo "usage: lab.sh start|stop|kill|crash-host|hang|unhang|net-cut|net-restore|net-down|blackhole|blackhole-down|delay|undelay NAME" >&2
     exit 2 ;;
esac
