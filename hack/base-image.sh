#!/usr/bin/env bash
# Makes the base image the Dockerfiles build FROM here, where no registry can be pulled from:
# a minimal Debian bookworm with python3 (debootstrap), imported with `docker import`.
# Users elsewhere build with the default BASE_IMAGE (python:3.12-slim) and never need this.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
image=${BASE_IMAGE:-microservice-operator/base:bookworm}
docker=${DOCKER:-docker}
log="$root/.cluster/logs/base-image.log"
mkdir -p "$(dirname "$log")"
if "$docker" image inspect "$image" >/dev/null 2>&1; then
  echo "base image $image exists"
  exit 0
fi
command -v debootstrap >/dev/null || { apt-get update -qq && apt-get install -y -qq debootstrap >/dev/null; }
rootfs=$(mktemp -d /tmp/base-rootfs.XXXXXX)
trap 'rm -rf "$rootfs"' EXIT
echo "debootstrapping bookworm into $rootfs (log: $log)"
debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates bookworm "$rootfs" \
  http://deb.debian.org/debian >"$log" 2>&1 || { echo "base-image: debootstrap failed (log: $log)" >&2; exit 1; }
rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
tar -C "$rootfs" -c . | "$docker" import \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENV LANG=C.UTF-8' --change 'CMD ["python3"]' - "$image" >/dev/null
echo "base image $image: $("$docker" run --rm "$image" python3 --version)"
