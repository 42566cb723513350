#!/usr/bin/env bash
# Starts (or reuses) the local cluster: kwokctl's binary runtime with the binaries in
# .cluster/bin, its kwok nodes, and one real node (node.sh: kubelet, containerd, kube-proxy,
# CoreDNS). The control plane binds 127.0.0.1, but the API server, which the real node's pods
# reach through Service `kubernetes` (firewalled to this machine). All state under .cluster/.
# Idempotent: what runs is kept; a cluster made from another configuration is recreated.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=paths.sh
source "$here/paths.sh"
kubeconfig="$state/kubeconfig"
log="$state/logs/cluster-up.log"
nodes=${CLUSTER_NODES:-2}
# shellcheck source=/dev/null
source "$here/versions.env"
mkdir -p "$state/logs" "$KWOK_WORKDIR"

fail() { echo "cluster-up: error: $1 (log: $log)" >&2; exit 1; }
kwokctl() { "$bin/kwokctl" --name "$name" "$@"; }
kc() { "$bin/kubectl" --kubeconfig "$kubeconfig" "$@"; }

for t in kube-apiserver kube-controller-manager kube-scheduler kubectl etcd kwok kwokctl; do
  [ -x "$bin/$t" ] || fail "$bin/$t is missing; run 'make cluster-binaries' (or 'make install')"
done
node() { "$here/node.sh" "$@"; }
node preflight
node render
node network

healthy() { [ -f "$kubeconfig" ] && kc get --raw /readyz >/dev/null 2>&1; }

if ! healthy; then
  : > "$log"
  if kwokctl get clusters 2>>"$log" | grep -qx "$name"; then
    echo "cluster '$name' exists but is not answering; restarting it"
    kwokctl start cluster --timeout 2m >>"$log" 2>&1 || {
      echo "restart failed; recreating" >>"$log"
      kwokctl delete cluster >>"$log" 2>&1 || true
    }
  fi
fi
config="$state/kwokctl.yaml"
node_state="$state/node"
cat > "$config.new" <<YAML
apiVersion: config.kwok.x-k8s.io/v1alpha1
kind: KwokctlConfiguration
options:
  runtime: binary
  bindAddress: 127.0.0.1
  kubeVersion: $KUBERNETES_VERSION
  etcdVersion: ${ETCD_VERSION#v}
  kwokVersion: $KWOK_VERSION
  kubeBinaryPrefix: $bin
  kubectlBinary: $bin/kubectl
  etcdBinary: $bin/etcd
  kwokControllerBinary: $bin/kwok
  kubeAuthorization: true
  kubeAdmission: true
  disableQPSLimits: true
  kubeAuditPolicy: $here/audit-policy.yaml
  # In-cluster clients verify the API server by its Service IP, as on any real cluster.
  kubeApiserverCertSANs: [$NODE_IP, $KUBERNETES_SERVICE_IP]
componentsPatches:
  - name: kube-apiserver
    extraArgs:
      # Room for benchmarks with thousands of Services (the default range is a /24).
      - {key: service-cluster-ip-range, value: $SERVICE_CIDR}
      # The real node's pods reach the API server at the node IP (Service kubernetes); every
      # address but this machine's own and the pod bridge's is dropped by node.sh firewall.
      - {key: bind-address, value: 0.0.0.0, override: true}
      - {key: advertise-address, value: $NODE_IP}
      # A real node's safeguards, and PodNodeSelector: pods go to the real node unless their
      # namespace is annotated for the kwok nodes.
      - {key: enable-admission-plugins, value: "NodeRestriction,PodNodeSelector"}
      - {key: admission-control-config-file, value: $node_state/admission.yaml}
      - {key: kubelet-client-certificate, value: $state/kwok/clusters/$name/pki/admin.crt}
      - {key: kubelet-client-key, value: $state/kwok/clusters/$name/pki/admin.key}
      - {key: kubelet-preferred-address-types, value: "InternalIP,Hostname"}
  # kwok manages its own fake nodes only, never the real node or its pods.
  - name: kwok-controller
    extraArgs:
      - {key: manage-all-nodes, value: "false", override: true}
      - {key: manage-nodes-with-annotation-selector, value: kwok.x-k8s.io/node=fake}
YAML
if healthy && ! cmp -s "$config" "$config.new"; then
  echo "cluster '$name' was made from another configuration; recreating it"
  "$here/down.sh" >>"$log" 2>&1 || true
  node render
  node network
fi
mv "$config.new" "$config"
if ! healthy; then
  echo "creating cluster '$name' (log: $log)"
  rm -f "$kubeconfig"
  kwokctl delete cluster >>"$log" 2>&1 || true
  kwokctl create cluster --config "$config" --kubeconfig "$kubeconfig" \
    --wait 2m --timeout 4m >>"$log" 2>&1 || fail "kwokctl could not create the cluster"
  healthy || fail "the API server did not become ready"
fi
api_port=$(kc config view --minify -o jsonpath='{.clusters[0].cluster.server}'); api_port=${api_port##*:}
node firewall "$api_port"

have=$(kc get nodes -l type=kwok -o name 2>>"$log" | wc -l)
if [ "$have" -lt "$nodes" ]; then
  # Room for benchmark-sized workloads: 5,000 pods and a /16 of pod IPs per node; their addresses
  # are in KWOK_CIDR, which node.sh routes as unreachable.
  kwokctl scale node --replicas "$nodes" --param '.allocatable.pods = 5000' \
    --param ".podCIDRs = [\"$KWOK_POD_CIDR\"]" --param ".nodeIPs = [\"$KWOK_NODE_IP\"]" >>"$log" 2>&1 ||
    fail "could not create $nodes kwok nodes"
fi
kc wait --for=condition=Ready nodes -l type=kwok --timeout=60s >>"$log" 2>&1 ||
  fail "kwok nodes did not become Ready"
node start
kc get --raw /version | python3 -c 'import json,sys; v=json.load(sys.stdin); print("cluster ready:", v["gitVersion"])'
echo "export KUBECONFIG=$kubeconfig"
