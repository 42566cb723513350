#!/usr/bin/env bash
# Stops and deletes the local cluster: the real node (node.sh stop: its processes, pods, mounts,
# network namespaces, iptables rules, bridge and sysctls), then kwokctl's components.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=paths.sh
source "$here/paths.sh"
"$here/node.sh" stop
if [ -x "$state/bin/kwokctl" ] && [ -d "$KWOK_WORKDIR/clusters/$name" ]; then
  "$state/bin/kwokctl" --name "$name" delete cluster
fi
rm -f "$state/kubeconfig"
# The operator `make demo` leaves running.
if [ -f "$state/operator.pid" ]; then
  kill "$(cat "$state/operator.pid")" 2>/dev/null && echo "stopped the demo operator"
  rm -f "$state/operator.pid"
fi
# Belt and braces: nothing started from .cluster/bin may outlive the cluster.
pids=$(pgrep -f "^$state/" || true)
if [ -n "$pids" ]; then
  echo "stopping leftover processes: $pids"
  kill $pids 2>/dev/null || true
  sleep 1
  kill -9 $(pgrep -f "^$state/" || true) 2>/dev/null || true
fi
echo "cluster '$name' is down"
