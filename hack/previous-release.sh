#!/usr/bin/env bash
# Makes the release the upgrade test starts from, PREVIOUS_RELEASE_COMMIT of versions.env: its tree
# (chart and CRD) in .cluster/previous/COMMIT and its operator image microservice-operator:0.1.0-SHORT,
# built from that tree with the wheels `make docker-build` fetched (its dependencies are today's).
# Prints the image name and the tree's path, on the last line. Needs the repository's history (a clone, not a shallow one).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
source "$root/hack/cluster/versions.env"
commit=$PREVIOUS_RELEASE_COMMIT
docker=${DOCKER:-docker}
base=${BASE_IMAGE:-microservice-operator/base:bookworm}
tree="$root/.cluster/previous/$commit"
image="microservice-operator:0.1.0-${commit:0:7}"
git -C "$root" cat-file -e "$commit^{commit}" 2>/dev/null || {
  echo "previous-release: error: commit $commit is not in this clone (a shallow clone? run 'git fetch --unshallow')" >&2
  exit 1
}
if [ ! -d "$tree" ]; then
  rm -rf "$tree.tmp" && mkdir -p "$tree.tmp"
  git -C "$root" archive "$commit" | tar -x -C "$tree.tmp"
  mv "$tree.tmp" "$tree"
fi
# The wheels of this engine's platform (make docker-build fills wheelhouse/operator/OS-ARCH); the
# previous release's Dockerfile reads them from wheelhouse/operator itself.
wheels="wheelhouse/operator/$("$docker" version --format '{{.Server.Os}}-{{.Server.Arch}}' 2>/dev/null || true)"
ls "$root/$wheels"/*.whl >/dev/null 2>&1 ||
  { echo "previous-release: error: no wheels in $wheels: run 'make docker-build' first" >&2; exit 1; }
cp "$root/$wheels"/*.whl "$tree/wheelhouse/operator/"
if ! "$docker" image inspect "$image" >/dev/null 2>&1; then
  start=$SECONDS
  (cd "$tree" && DOCKER_BUILDKIT=0 "$docker" build -q -f operator/Dockerfile --build-arg "BASE_IMAGE=$base" \
    -t "$image" . >/dev/null)
  echo "built $image from $commit in $((SECONDS - start))s" >&2
fi
echo "$image $tree"
