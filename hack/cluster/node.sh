#!/usr/bin/env bash
# The real node beside the local control plane: a kubelet with containerd, runc and a bridge
# network, kube-proxy, and CoreDNS as the cluster DNS. Called by up.sh and down.sh:
#
#   node.sh preflight   check what the node needs, and say what is missing (changes nothing)
#   node.sh render      write the node's configuration files from hack/cluster/node/
#   node.sh network     sysctls, the node IP, routes and filter rules (before the API server)
#   node.sh firewall P  the API server's port P reached only from this machine and its pods
#   node.sh start       containerd, credentials, kubelet, kube-proxy, CoreDNS; waits for Ready
#   node.sh stop        stops all of it, its pods, mounts, network namespaces, rules, sysctls
#
# Every process is started in the background with its PID in .cluster/node/pids/ and stopped by
# that PID. Nothing here sends traffic off this machine: pod traffic is confined to the bridge.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=paths.sh
source "$here/paths.sh"
NODE_STATE="$state/node"
RUN_DIR=/run/microservice-operator    # sockets: short paths, and tmpfs
PKI="$state/kwok/clusters/$name/pki"
pids="$NODE_STATE/pids"
logs="$state/logs"
kubeconfig="$state/kubeconfig"
containerd_sock="$RUN_DIR/containerd/containerd.sock"
saved_sysctls="$state/sysctls.saved"
NODE_LABEL_KEY=${NODE_LABEL%%=*}
NODE_LABEL_VALUE=${NODE_LABEL#*=}
mkdir -p "$pids" "$logs"

fail() { echo "real node: error: $*" >&2; exit 1; }
say() { echo "real node: $*"; }
kc() { "$bin/kubectl" --kubeconfig "$kubeconfig" "$@"; }
ctr_() { ctr --address "$containerd_sock" --namespace k8s.io "$@"; }

render() { # template, destination: replaces @VAR@ with the variable's value
  local src=$1 dest=$2 v expr=()
  for v in NODE_NAME NODE_IP NODE_BRIDGE NODE_LABEL NODE_LABEL_KEY NODE_LABEL_VALUE POD_CIDR POD_GATEWAY \
    CLUSTER_DNS_IP CLUSTER_DOMAIN KUBELET_PORT KUBELET_HEALTHZ_PORT PROXY_HEALTHZ_PORT PROXY_METRICS_PORT \
    COREDNS_HEALTH_PORT COREDNS_READY_PORT COREDNS_METRICS_PORT GATEWAY_PORT GATEWAY_PING_PORT PAUSE_IMAGE VOLUME_HELPER_IMAGE NODE_STATE RUN_DIR PKI; do
    expr+=(-e "s|@$v@|${!v}|g")
  done
  sed "${expr[@]}" "$src" > "$dest.tmp"
  ! grep -o '@[A-Z_]*@' "$dest.tmp" || fail "$src has a placeholder that node.sh does not know"
  mv "$dest.tmp" "$dest"
}

cmd_render() {
  mkdir -p "$NODE_STATE/cni/net.d" "$NODE_STATE/pod-logs"
  local f
  for f in containerd.toml kubelet.yaml kube-proxy.yaml Corefile resolv.conf admission.yaml \
    podnodeselector.yaml node.yaml kube-dns.yaml local-path.yaml traefik.yaml gateway.yaml; do
    render "$here/node/$f" "$NODE_STATE/$f"
  done
  render "$here/node/cni.conflist" "$NODE_STATE/cni/net.d/10-mso.conflist"
}

# --- processes -------------------------------------------------------------------------------

running() { [ -f "$pids/$1.pid" ] && kill -0 "$(cat "$pids/$1.pid")" 2>/dev/null; }

start_daemon() { # name, command...: starts it in its own session unless it already runs
  local daemon=$1; shift
  if running "$daemon"; then return 0; fi
  setsid "$@" >>"$logs/$daemon.log" 2>&1 < /dev/null &
  echo $! > "$pids/$daemon.pid"
}

stop_daemon() { # name, seconds to wait before SIGKILL
  local daemon=$1 wait=${2:-10} pid
  [ -f "$pids/$daemon.pid" ] || return 0
  pid=$(cat "$pids/$daemon.pid")
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq $((wait * 5))); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -9 "$pid" 2>/dev/null || true
    say "stopped $daemon ($pid)"
  fi
  rm -f "$pids/$daemon.pid"
}

wait_until() { # seconds, description, command...
  local seconds=$1 what=$2; shift 2
  for _ in $(seq $((seconds * 5))); do "$@" >/dev/null 2>&1 && return 0; sleep 0.2; done
  fail "$what did not happen within ${seconds}s (logs: $logs)"
}

# --- preflight -------------------------------------------------------------------------------

port_busy() { # address, port, protocol (tcp|udp)
  local flag=-ltnH; [ "$3" = udp ] && flag=-lunH
  ss "$flag" | awk '{print $4}' | grep -qE "^(\*|0\.0\.0\.0|\[::\]|$1):$2\$"
}

cmd_preflight() {
  [ "$(id -u)" = 0 ] || fail "must run as root (it sets sysctls, routes, iptables rules and mounts)"
  local c
  for c in containerd containerd-shim-runc-v2 runc ctr iptables ip ss conntrack openssl setsid; do
    command -v "$c" >/dev/null || fail "'$c' is missing: run 'make install' (Debian packages containerd runc containernetworking-plugins iptables conntrack iproute2)"
  done
  for c in bridge host-local loopback; do
    [ -x "/usr/lib/cni/$c" ] || fail "CNI plugin /usr/lib/cni/$c is missing: run 'make install' (Debian package containernetworking-plugins)"
  done
  for c in kubelet kube-proxy coredns pause local-path-provisioner volume-helper traefik; do
    [ -x "$bin/$c" ] || fail "$bin/$c is missing: run 'make cluster-binaries'"
  done
  [ -d /proc/sys/net/bridge ] || modprobe br_netfilter 2>/dev/null || true
  [ -d /proc/sys/net/bridge ] || fail "the kernel has no bridge netfilter (/proc/sys/net/bridge): load br_netfilter"
  grep -qw overlay /proc/filesystems || modprobe overlay 2>/dev/null || true
  grep -qw overlay /proc/filesystems || fail "the kernel has no overlay filesystem (containerd's snapshotter): load overlay"
  [ -d /sys/fs/cgroup/memory ] || [ -f /sys/fs/cgroup/cgroup.controllers ] || fail "no cgroup filesystem at /sys/fs/cgroup"
  iptables -w -L -n >/dev/null 2>&1 || fail "iptables does not work here (iptables -L failed)"
  local key
  for key in net.ipv4.ip_forward net.bridge.bridge-nf-call-iptables net.bridge.bridge-nf-call-ip6tables; do
    sysctl -w "$key=$(sysctl -n "$key")" >/dev/null 2>&1 || fail "cannot set sysctl $key"
  done
  ports_free
}

check_port() { # daemon, address, port, protocol, what: unless the daemon is ours and running
  running "$1" && return 0
  if port_busy "$2" "$3" "$4"; then fail "port $3/$4 on $2 ($5) is in use"; fi
}

ports_free() {
  check_port kubelet "$NODE_IP" "$KUBELET_PORT" tcp "kubelet"
  check_port kubelet 127.0.0.1 "$KUBELET_HEALTHZ_PORT" tcp "kubelet healthz"
  check_port kube-proxy 127.0.0.1 "$PROXY_HEALTHZ_PORT" tcp "kube-proxy healthz"
  check_port kube-proxy 127.0.0.1 "$PROXY_METRICS_PORT" tcp "kube-proxy metrics"
  check_port coredns "$NODE_IP" 53 udp "cluster DNS"
  check_port coredns "$NODE_IP" 53 tcp "cluster DNS"
  check_port coredns 127.0.0.1 "$COREDNS_HEALTH_PORT" tcp "CoreDNS health"
  check_port coredns 127.0.0.1 "$COREDNS_READY_PORT" tcp "CoreDNS ready"
  check_port coredns 127.0.0.1 "$COREDNS_METRICS_PORT" tcp "CoreDNS metrics"
  check_port traefik 127.0.0.1 "$GATEWAY_PORT" tcp "the Gateway's listener"
  check_port traefik 127.0.0.1 "$GATEWAY_PING_PORT" tcp "the Gateway's health"
}

# --- network ---------------------------------------------------------------------------------

# Sysctls the node needs, and those the kubelet sets itself (protectKernelDefaults: false): their
# values before the first start are saved once and restored by `node.sh stop`.
SYSCTLS="net.ipv4.ip_forward net.bridge.bridge-nf-call-iptables net.bridge.bridge-nf-call-ip6tables
net.ipv4.icmp_ratemask vm.overcommit_memory vm.panic_on_oom kernel.panic kernel.panic_on_oops kernel.keys.root_maxkeys
kernel.keys.root_maxbytes"

set_sysctls() {
  local key
  touch "$saved_sysctls"
  for key in $SYSCTLS; do  # the value before the first start, once per key
    grep -q "^$key=" "$saved_sysctls" || echo "$key=$(sysctl -n "$key")" >> "$saved_sysctls"
  done
  for key in net.ipv4.ip_forward net.bridge.bridge-nf-call-iptables net.bridge.bridge-nf-call-ip6tables; do
    sysctl -qw "$key=1" || fail "cannot set sysctl $key=1"
  done
  # "Destination unreachable" out of the per-destination rate limit (bit 3 of the mask): a pod's
  # burst of connections to kwok's fake IPs is refused at once, not after SYN retransmits.
  local mask
  mask=$(sysctl -n net.ipv4.icmp_ratemask)
  sysctl -qw "net.ipv4.icmp_ratemask=$((mask & ~8))" || fail "cannot set sysctl net.ipv4.icmp_ratemask"
}

restore_sysctls() {
  [ -f "$saved_sysctls" ] || return 0
  local line
  while read -r line; do sysctl -qw "$line" || echo "real node: warning: could not restore $line" >&2; done < "$saved_sysctls"
  rm -f "$saved_sysctls"
  say "restored sysctls"
}

ipt() { iptables -w "$@"; }

ensure_chain() { # table, chain, parent chain: an empty chain of ours, jumped to first from parent
  ipt -t "$1" -N "$2" 2>/dev/null || ipt -t "$1" -F "$2"
  ipt -t "$1" -C "$3" -j "$2" 2>/dev/null || ipt -t "$1" -I "$3" 1 -j "$2"
}

drop_chain() { # table, chain, parent chain
  while ipt -t "$1" -D "$3" -j "$2" 2>/dev/null; do :; done
  ipt -t "$1" -F "$2" 2>/dev/null || true
  ipt -t "$1" -X "$2" 2>/dev/null || true
}

cmd_network() {
  set_sysctls
  # A dummy interface, or where the kernel has no dummy driver (as here) a bridge without ports,
  # which holds local addresses just the same.
  if ! ip link show "$NODE_DUMMY" >/dev/null 2>&1; then
    ip link add "$NODE_DUMMY" type dummy 2>/dev/null || ip link add "$NODE_DUMMY" type bridge ||
      fail "cannot create the interface $NODE_DUMMY (neither dummy nor bridge)"
  fi
  ip link set "$NODE_DUMMY" up
  ip addr replace "$NODE_IP/32" dev "$NODE_DUMMY"
  # ClusterIPs are local addresses, as with kube-proxy's IPVS dummy interface: the host's own
  # connect() routes, then kube-proxy's DNAT in OUTPUT sends it to the pod.
  ip route replace local "$SERVICE_CIDR" dev "$NODE_DUMMY" table local
  # kwok's fake pod and node IPs answer nothing and must not leave this machine: routed into the
  # local interface, and refused at once by the filter rules below. (An unreachable route would
  # fail the host's connect() to a kwok-backed ClusterIP silently: the reroute after kube-proxy's
  # DNAT drops the SYN, and the client waits for its timeout.)
  ip route replace "$KWOK_CIDR" dev "$NODE_DUMMY"
  # The host's own connections get a TCP reset; a pod's an ICMP "port unreachable", which (unlike a
  # reset, whose source kube-proxy's DNAT is not undone for) its TCP takes as "connection refused".
  ensure_chain filter MSO-OUTPUT OUTPUT
  ipt -A MSO-OUTPUT -d "$KWOK_CIDR" -p tcp -j REJECT --reject-with tcp-reset
  ipt -A MSO-OUTPUT -d "$KWOK_CIDR" -j REJECT --reject-with icmp-port-unreachable
  # Pods talk to pods, Services and the host; nothing enters or leaves the bridge from elsewhere.
  ensure_chain filter MSO-FORWARD FORWARD
  ipt -A MSO-FORWARD -d "$KWOK_CIDR" -j REJECT --reject-with icmp-port-unreachable
  ipt -A MSO-FORWARD -i "$NODE_BRIDGE" -o "$NODE_BRIDGE" -j ACCEPT
  ipt -A MSO-FORWARD -i "$NODE_BRIDGE" -j REJECT --reject-with icmp-net-prohibited
  ipt -A MSO-FORWARD -o "$NODE_BRIDGE" -j REJECT --reject-with icmp-net-prohibited
  # A ClusterIP that kube-proxy did not translate (no such Service) is refused at once, as it
  # would be by a real node, instead of reaching a host port of the same number.
  ensure_chain filter MSO-INPUT INPUT
  ipt -A MSO-INPUT -d "$SERVICE_CIDR" -m conntrack ! --ctstate DNAT -p tcp -j REJECT --reject-with tcp-reset
  ipt -A MSO-INPUT -d "$SERVICE_CIDR" -m conntrack ! --ctstate DNAT -j REJECT --reject-with icmp-port-unreachable
}

cmd_firewall() { # the API server listens on every address: only this machine and its pods reach it
  local port=$1
  ipt -A MSO-INPUT -p tcp --dport "$port" -i lo -j RETURN
  ipt -A MSO-INPUT -p tcp --dport "$port" -i "$NODE_BRIDGE" -j RETURN
  ipt -A MSO-INPUT -p tcp --dport "$port" -j DROP
}

remove_kube_chains() { # the KUBE-* chains of the kubelet (kube-proxy --cleanup removes its own)
  local cmd table rule chain
  for cmd in iptables ip6tables; do
    command -v "$cmd" >/dev/null || continue
    for table in filter nat mangle; do
      { "$cmd" -w -t "$table" -S 2>/dev/null | grep -E -- '-j KUBE-' | grep -v '^-A KUBE-' || true; } |
        sed 's/^-A/-D/' | while read -r rule; do eval "$cmd -w -t $table $rule" 2>/dev/null || true; done
      for chain in $("$cmd" -w -t "$table" -S 2>/dev/null | awk '$1 == "-N" && $2 ~ /^KUBE-/ {print $2}'); do
        "$cmd" -w -t "$table" -F "$chain" 2>/dev/null || true
      done
      for chain in $("$cmd" -w -t "$table" -S 2>/dev/null | awk '$1 == "-N" && $2 ~ /^KUBE-/ {print $2}'); do
        "$cmd" -w -t "$table" -X "$chain" 2>/dev/null || true
      done
    done
  done
}

network_down() {
  drop_chain filter MSO-FORWARD FORWARD
  drop_chain filter MSO-INPUT INPUT
  drop_chain filter MSO-OUTPUT OUTPUT
  ip route del "$KWOK_CIDR" 2>/dev/null || true
  ip link del "$NODE_BRIDGE" 2>/dev/null && say "removed bridge $NODE_BRIDGE" || true
  ip link del "$NODE_DUMMY" 2>/dev/null && say "removed $NODE_DUMMY ($NODE_IP, $SERVICE_CIDR)" || true
}

# --- credentials -----------------------------------------------------------------------------

client_cert() { # file name, common name, organization: a client certificate from the cluster CA
  local out="$NODE_STATE/pki/$1" subject="/CN=$2"
  [ -n "$3" ] && subject="/O=$3/CN=$2"
  mkdir -p "$NODE_STATE/pki"
  if [ -f "$out.crt" ] && openssl verify -CAfile "$PKI/ca.crt" "$out.crt" >/dev/null 2>&1; then return 0; fi
  openssl req -new -newkey rsa:2048 -nodes -keyout "$out.key" -subj "$subject" -out "$out.csr" 2>/dev/null
  openssl x509 -req -in "$out.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" -CAcreateserial \
    -CAserial "$NODE_STATE/pki/ca.srl" -days 365 -sha256 -out "$out.crt" 2>/dev/null \
    -extfile <(printf 'keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n')
  rm -f "$out.csr"
  chmod 600 "$out.key"
}

client_kubeconfig() { # certificate name: $NODE_STATE/<name>.kubeconfig for the local API server
  local file="$NODE_STATE/$1.kubeconfig" server
  server=$(kc config view --minify -o jsonpath='{.clusters[0].cluster.server}')
  rm -f "$file"
  "$bin/kubectl" config --kubeconfig "$file" set-cluster local --server "$server" \
    --certificate-authority "$PKI/ca.crt" --embed-certs >/dev/null
  "$bin/kubectl" config --kubeconfig "$file" set-credentials "$1" --embed-certs \
    --client-certificate "$NODE_STATE/pki/$1.crt" --client-key "$NODE_STATE/pki/$1.key" >/dev/null
  "$bin/kubectl" config --kubeconfig "$file" set-context local --cluster local --user "$1" >/dev/null
  "$bin/kubectl" config --kubeconfig "$file" use-context local >/dev/null
  chmod 600 "$file"
}

credentials() {
  [ -f "$PKI/ca.key" ] || fail "the cluster CA ($PKI/ca.key) is missing: is the control plane up?"
  client_cert kubelet "system:node:$NODE_NAME" system:nodes
  client_cert kube-proxy system:kube-proxy ""
  client_cert coredns system:coredns ""
  local c
  for c in kubelet kube-proxy coredns; do client_kubeconfig "$c"; done
}

# --- containerd ------------------------------------------------------------------------------

start_containerd() {
  if ! running containerd && ctr --address "$containerd_sock" version >/dev/null 2>&1; then
    fail "a containerd that this script did not start serves $containerd_sock: stop it first"
  fi
  mkdir -p "$RUN_DIR"
  start_daemon containerd containerd --config "$NODE_STATE/containerd.toml"
  wait_until 30 "containerd answering on $containerd_sock" ctr --address "$containerd_sock" version
  import_binary_image pause "$PAUSE_IMAGE"
  import_binary_image volume-helper "$VOLUME_HELPER_IMAGE"
}

import_binary_image() { # binary in .cluster/bin, image name: a one-binary image, unless present
  ctr_ images ls -q | grep -qxF "$2" && return 0
  python3 "$here/oci-image.py" "$bin/$1" "$2" "$NODE_STATE/$1.tar"
  ctr_ images import "$NODE_STATE/$1.tar" >/dev/null
  rm -f "$NODE_STATE/$1.tar"
}

# --- kubelet, kube-proxy, CoreDNS ------------------------------------------------------------

node_ready() {
  [ "$(kc get node "$NODE_NAME" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}')" = True ]
}

http_ok() { curl -fsS --max-time 2 -o /dev/null "$1"; }

start_kubelet() {
  kc apply --server-side -f "$NODE_STATE/node.yaml" >/dev/null
  mkdir -p "$NODE_STATE/kubelet"
  start_daemon kubelet "$bin/kubelet" --config "$NODE_STATE/kubelet.yaml" \
    --kubeconfig "$NODE_STATE/kubelet.kubeconfig" --root-dir "$NODE_STATE/kubelet" \
    --cert-dir "$NODE_STATE/kubelet/pki" --hostname-override "$NODE_NAME" --node-ip "$NODE_IP" \
    --node-labels "$NODE_LABEL" --v=1
  wait_until 90 "node $NODE_NAME Ready" node_ready
}

start_proxy_and_dns() {
  start_daemon kube-proxy "$bin/kube-proxy" --config "$NODE_STATE/kube-proxy.yaml" --v=1
  wait_until 60 "kube-proxy healthy" http_ok "http://127.0.0.1:$PROXY_HEALTHZ_PORT/healthz"
  kc apply --server-side --force-conflicts -f "$NODE_STATE/kube-dns.yaml" >/dev/null
  start_daemon coredns "$bin/coredns" -conf "$NODE_STATE/Corefile"
  wait_until 60 "CoreDNS ready" http_ok "http://127.0.0.1:$COREDNS_READY_PORT/ready"
}

gateway_programmed() {
  [ "$(kc get gateway local -n gateway-system \
    -o jsonpath='{.status.conditions[?(@.type=="Programmed")].status}' 2>/dev/null)" = True ]
}

start_gateway() { # the Gateway API CRDs, Traefik, GatewayClass traefik and Gateway gateway-system/local
  kc apply --server-side --force-conflicts -f "$state/gateway-api" >/dev/null
  kc wait --for=condition=Established crd/gateways.gateway.networking.k8s.io \
    crd/httproutes.gateway.networking.k8s.io --timeout=60s >/dev/null
  kc apply --server-side --force-conflicts -f "$NODE_STATE/gateway.yaml" >/dev/null
  start_daemon traefik env KUBECONFIG="$kubeconfig" "$bin/traefik" --configFile="$NODE_STATE/traefik.yaml"
  wait_until 60 "the Gateway (Traefik) healthy" http_ok "http://127.0.0.1:$GATEWAY_PING_PORT/ping"
  wait_until 60 "Gateway gateway-system/local Programmed" gateway_programmed
}

start_volume_provisioner() { # PersistentVolumes on the node: StorageClass standard, as on kind
  mkdir -p "$NODE_STATE/volumes"
  kc apply --server-side --force-conflicts -f "$NODE_STATE/local-path.yaml" >/dev/null
  start_daemon local-path-provisioner "$bin/local-path-provisioner" start \
    --kubeconfig "$kubeconfig" --namespace local-path-storage --provisioner-name rancher.io/local-path \
    --service-account-name local-path-provisioner-service-account --helper-image "$VOLUME_HELPER_IMAGE"
}

# Host directories the kubelet, containerd and CNI create at fixed paths: the ones that did not
# exist before the node first started are removed by `node.sh stop`.
HOST_DIRS="/var/lib/kubelet /var/lib/cni /var/log/containers /var/run/netns"
created_dirs="$state/host-dirs.created"

note_host_dirs() {
  [ -f "$created_dirs" ] && return 0
  local d
  for d in $HOST_DIRS; do [ -e "$d" ] || echo "$d"; done > "$created_dirs"
}

remove_host_dirs() {
  [ -f "$created_dirs" ] || return 0
  local d
  while read -r d; do rm -rf --one-file-system "$d"; done < "$created_dirs"
  rm -f "$created_dirs"
}

cmd_start() {
  local started=$SECONDS
  note_host_dirs
  credentials
  start_containerd
  start_kubelet
  start_proxy_and_dns
  start_volume_provisioner
  start_gateway
  say "node $NODE_NAME Ready ($NODE_IP, pods $POD_CIDR, DNS $CLUSTER_DNS_IP, Gateway 127.0.0.1:$GATEWAY_PORT) in $((SECONDS - started))s"
}

# --- stop ------------------------------------------------------------------------------------

sandbox_netns() { # the network namespace files of containerd's containers
  local id
  for id in $(ctr_ containers ls -q 2>/dev/null); do
    ctr_ containers info "$id" 2>/dev/null | python3 -c '
import json, sys
spec = json.load(sys.stdin).get("Spec") or {}
for ns in (spec.get("linux") or {}).get("namespaces") or []:
    if ns.get("type") == "network" and ns.get("path"):
        print(ns["path"])'
  done | sort -u
}

remove_pods() { # every task and container of the node's containerd, and their network namespaces
  ctr --address "$containerd_sock" version >/dev/null 2>&1 || return 0
  sandbox_netns > "$NODE_STATE/netns.list" || true
  local id
  for id in $(ctr_ tasks ls -q 2>/dev/null); do ctr_ tasks kill -s SIGKILL "$id" >/dev/null 2>&1 || true; done
  for id in $(ctr_ tasks ls -q 2>/dev/null); do ctr_ tasks delete -f "$id" >/dev/null 2>&1 || true; done
  for id in $(ctr_ containers ls -q 2>/dev/null); do ctr_ containers delete "$id" >/dev/null 2>&1 || true; done
}

kill_shims() { # shims of our containerd outlive it: found by the socket they were given
  local dir pid
  for dir in /proc/[0-9]*; do
    pid=${dir#/proc/}
    tr '\0' ' ' < "$dir/cmdline" 2>/dev/null | grep -q "containerd-shim.* -address $containerd_sock " || continue
    kill -9 "$pid" 2>/dev/null && say "stopped shim $pid" || true
  done
}

unmount_all() { # every mount under the node's directories, deepest first
  local m
  { awk '{print $5}' /proc/self/mountinfo | grep -E "^($NODE_STATE|$RUN_DIR)(/|\$)" || true; } | sort -r |
    while read -r m; do umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true; done
  if [ -f "$NODE_STATE/netns.list" ]; then
    while read -r m; do
      [ -e "$m" ] || continue
      umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
      rm -f "$m"
    done < "$NODE_STATE/netns.list"
  fi
}

remove_cgroups() { # the kubelet's pod cgroups (cgroupfs driver), once their processes are gone
  local d
  for d in /sys/fs/cgroup/*/kubepods /sys/fs/cgroup/kubepods; do
    [ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} + 2>/dev/null || true
  done
}

cmd_stop() {
  stop_daemon traefik
  stop_daemon local-path-provisioner
  stop_daemon coredns
  if running kube-proxy || [ -f "$pids/kube-proxy.pid" ]; then
    stop_daemon kube-proxy
    "$bin/kube-proxy" --cleanup >>"$logs/kube-proxy.log" 2>&1 || true
  fi
  stop_daemon kubelet
  remove_pods
  stop_daemon containerd 20
  kill_shims
  unmount_all
  remove_cgroups
  remove_kube_chains
  network_down
  restore_sysctls
  remove_host_dirs
  find /var/log/containers -maxdepth 1 -type l -lname "$NODE_STATE/*" -delete 2>/dev/null || true
  rm -f /var/lib/cni/results/mso-* 2>/dev/null || true
  rm -rf --one-file-system "$RUN_DIR" "$NODE_STATE"
}

case "${1:-}" in
  preflight) cmd_preflight ;;
  render) cmd_render ;;
  network) cmd_network ;;
  firewall) cmd_firewall "${2:?port}" ;;
  start) cmd_start ;;
  stop) cmd_stop ;;
  *) echo "usage: $0 preflight|render|network|firewall PORT|start|stop" >&2; exit 2 ;;
esac
