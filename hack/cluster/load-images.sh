#!/usr/bin/env bash
# Loads Docker images into the real node's containerd (namespace k8s.io), as `kind load` does:
#   load-images.sh IMAGE...
# Each lands under the name the kubelet resolves the short name to (docker.io/library/NAME:TAG,
# docker.io/ORG/NAME:TAG). An image whose Docker ID was loaded before is skipped.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
sock=/run/microservice-operator/containerd/containerd.sock
loaded="$root/.cluster/node/images.loaded"
docker=${DOCKER:-docker}
[ $# -gt 0 ] || { echo "usage: $0 IMAGE..." >&2; exit 2; }
ctr --address "$sock" version >/dev/null 2>&1 ||
  { echo "cluster-images: error: the real node's containerd is not running ($sock): run 'make cluster-up'" >&2; exit 1; }
touch "$loaded"
todo=()
for image in "$@"; do
  id=$("$docker" image inspect -f '{{.Id}}' "$image" 2>/dev/null) ||
    { echo "cluster-images: error: no Docker image $image: run 'make docker-build'" >&2; exit 1; }
  grep -qxF "$image $id" "$loaded" || todo+=("$image")
done
if [ ${#todo[@]} -eq 0 ]; then
  echo "images up to date on the real node: $*"
  exit 0
fi
start=$SECONDS
"$docker" save "${todo[@]}" | ctr --address "$sock" --namespace k8s.io images import - >/dev/null
for image in "${todo[@]}"; do
  id=$("$docker" image inspect -f '{{.Id}}' "$image")
  grep -v "^$image " "$loaded" > "$loaded.tmp" || true
  echo "$image $id" >> "$loaded.tmp" && mv "$loaded.tmp" "$loaded"
done
echo "loaded into the real node in $((SECONDS - start))s: ${todo[*]}"
