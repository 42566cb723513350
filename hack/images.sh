#!/usr/bin/env bash
# Builds the operator and sample images: starts dockerd if needed, makes the local base image when
# BASE_IMAGE is the locally made one, fills each wheelhouse for the base's Python and platform, then
# builds; with the local base it also makes the samples' PostgreSQL image (hack/postgres-image.sh).
# PLATFORM (linux/amd64 or linux/arm64; default the engine's own) is the images' platform: the base
# image must exist for it (or be pullable), and the engine must run its binaries (natively or by
# qemu's binfmt handlers), since the builds RUN pip inside it.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export DOCKER_BUILDKIT=${DOCKER_BUILDKIT:-0}  # the legacy builder works with every engine here
docker=${DOCKER:-docker}
local_base=microservice-operator/base:bookworm
base=${BASE_IMAGE:-$local_base}
tag=${IMAGE_TAG:-0.1.0}
hack/dockerd.sh
native=$("$docker" version --format '{{.Server.Os}}/{{.Server.Arch}}')
platform=${PLATFORM:-$native}
fail() { echo "images: error: $*" >&2; exit 1; }
case "$platform" in
  linux/amd64 | linux/arm64) ;;
  *) fail "PLATFORM=$platform is not supported: linux/amd64 or linux/arm64" ;;
esac
base_platform() { "$docker" image inspect --format '{{.Os}}/{{.Architecture}}' "$base" 2>/dev/null || true; }

have=$(base_platform)
if [ "$have" != "$platform" ]; then
  if [ "$base" = "$local_base" ]; then
    # hack/base-image.sh debootstraps for this machine's architecture only: another one would need
    # qemu-user-static for debootstrap's second stage, and no registry offers this image.
    [ "$platform" = "$native" ] || fail "no $platform base image $base here (found: ${have:-none})," \
      "and hack/base-image.sh makes it for this machine's $native only. For $platform, give a BASE_IMAGE" \
      "of that platform (BASE_IMAGE=python:3.12-slim where a registry is reachable) on an engine that runs" \
      "$platform binaries (qemu binfmt handlers), or build on a $platform machine."
    BASE_IMAGE=$local_base hack/base-image.sh
  else
    echo "pulling $base for $platform"
    "$docker" pull -q --platform "$platform" "$base" >/dev/null || true
  fi
  have=$(base_platform)
  [ "$have" = "$platform" ] || fail "the base image $base is ${have:-missing} here, not $platform: pull or load" \
    "a $platform $base first (docker pull --platform $platform $base)."
fi
# The builds RUN in the base: prove now that this engine can run its binaries (not natively: qemu).
pyver=$("$docker" run --rm --platform "$platform" "$base" python3 -c \
  'import sys; print("%d.%d" % sys.version_info[:2])' 2>&1) && [[ "$pyver" =~ ^3\.[0-9]+$ ]] ||
  fail "cannot run the $platform base image $base on this $native engine (${pyver##*$'\n'}):" \
    "install qemu's binfmt handlers (qemu-user-static), or build on a $platform machine."
export PLATFORM=$platform PYTHON_VERSION=$pyver
wheels_dir=${platform//\//-}

build() { # name, dockerfile, image, project dirs...
  local name=$1 dockerfile=$2 image=$3; shift 3
  hack/wheelhouse.sh "$name" "$base" "$@"
  local start=$SECONDS
  "$docker" build -q --platform "$platform" -f "$dockerfile" --build-arg "BASE_IMAGE=$base" \
    --build-arg "WHEELHOUSE=wheelhouse/$name/$wheels_dir" -t "$image" . >/dev/null
  echo "built $image for $platform in $((SECONDS - start))s"
}
build operator operator/Dockerfile "microservice-operator:$tag" .
build user-service samples/user-service/Dockerfile "microservice-operator/user-service:$tag" \
  samples/common samples/user-service
build order-service samples/order-service/Dockerfile "microservice-operator/order-service:$tag" \
  samples/common samples/order-service
# The samples' PostgreSQL, where no registry offers the official image (the locally made base; it is
# debootstrapped for this machine's platform only).
if [ "$base" = "$local_base" ] && [ "$platform" = "$native" ]; then hack/postgres-image.sh; fi
