#!/usr/bin/env bash
# Builds the operator and sample images: starts dockerd if needed, makes the local base image when
# BASE_IMAGE is the locally made one, fills each wheelhouse for the base's Python, then builds; with
# the local base it also makes the samples' PostgreSQL image (hack/postgres-image.sh).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export DOCKER_BUILDKIT=${DOCKER_BUILDKIT:-0}  # the legacy builder works with every engine here
docker=${DOCKER:-docker}
local_base=microservice-operator/base:bookworm
base=${BASE_IMAGE:-$local_base}
tag=${IMAGE_TAG:-0.1.0}
hack/dockerd.sh
[ "$base" = "$local_base" ] && BASE_IMAGE=$local_base hack/base-image.sh

build() { # name, dockerfile, image, project dirs...
  local name=$1 dockerfile=$2 image=$3; shift 3
  hack/wheelhouse.sh "$name" "$base" "$@"
  local start=$SECONDS
  "$docker" build -q -f "$dockerfile" --build-arg "BASE_IMAGE=$base" -t "$image" . >/dev/null
  echo "built $image in $((SECONDS - start))s"
}
build operator operator/Dockerfile "microservice-operator:$tag" operator
build user-service samples/user-service/Dockerfile "microservice-operator/user-service:$tag" \
  samples/common samples/user-service
build order-service samples/order-service/Dockerfile "microservice-operator/order-service:$tag" \
  samples/common samples/order-service
# The samples' PostgreSQL, where no registry offers the official image (the locally made base).
if [ "$base" = "$local_base" ]; then hack/postgres-image.sh; fi
