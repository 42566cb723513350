#!/usr/bin/env bash
# Starts (or reuses) the local cluster: kwokctl's binary runtime with the binaries in
# .cluster/bin, every component bound to 127.0.0.1, all state under .cluster/.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
state="$root/.cluster"
bin="$state/bin"
name=${CLUSTER_NAME:-microservice-operator}
kubeconfig="$state/kubeconfig"
log="$state/logs/cluster-up.log"
nodes=${CLUSTER_NODES:-2}
# shellcheck source=/dev/null
source "$here/versions.env"
export KWOK_WORKDIR="$state/kwok"   # keeps kwokctl out of ~/.kwok
mkdir -p "$state/logs" "$KWOK_WORKDIR"

fail() { echo "cluster-up: error: $1 (log: $log)" >&2; exit 1; }
kwokctl() { "$bin/kwokctl" --name "$name" "$@"; }
kc() { "$bin/kubectl" --kubeconfig "$kubeconfig" "$@"; }

for t in kube-apiserver kube-controller-manager kube-scheduler kubectl etcd kwok kwokctl; do
  [ -x "$bin/$t" ] || fail "$bin/$t is missing; run 'make cluster-binaries' (or 'make install')"
done

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
if ! healthy; then
  config="$state/kwokctl.yaml"
  cat > "$config" <<YAML
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
componentsPatches:
  # The apiserver's default Service range is a /24: too small for benchmarks with thousands of Services.
  - name: kube-apiserver
    extraArgs:
      - key: service-cluster-ip-range
        value: 10.96.0.0/16
YAML
  echo "creating cluster '$name' (log: $log)"
  rm -f "$kubeconfig"
  kwokctl create cluster --config "$config" --kubeconfig "$kubeconfig" \
    --wait 2m --timeout 4m >>"$log" 2>&1 || fail "kwokctl could not create the cluster"
  healthy || fail "the API server did not become ready"
fi

have=$(kc get nodes -l type=kwok -o name 2>>"$log" | wc -l)
if [ "$have" -lt "$nodes" ]; then
  # Room for benchmark-sized workloads: 5,000 pods and a /16 of pod IPs per node.
  kwokctl scale node --replicas "$nodes" --param '.allocatable.pods = 5000' \
    --param '.podCIDRs = ["10.128.0.0/16"]' --param '.nodeIPs = ["192.0.2.1"]' >>"$log" 2>&1 ||
    fail "could not create $nodes kwok nodes"
fi
kc wait --for=condition=Ready nodes --all --timeout=60s >>"$log" 2>&1 ||
  fail "kwok nodes did not become Ready"
kc get --raw /version | python3 -c 'import json,sys; v=json.load(sys.stdin); print("cluster ready:", v["gitVersion"])'
echo "export KUBECONFIG=$kubeconfig"
