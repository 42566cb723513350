#!/usr/bin/env bash
# Makes the samples' PostgreSQL image (microservice-operator/postgres:15) where no registry can be
# pulled from: Debian bookworm with Debian's postgresql package, by debootstrap --include, its
# postgres user moved to UID/GID 999 (as in the official image), imported as the base that
# samples/postgres/Dockerfile builds on. Machines with a registry use the official image instead.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
base=microservice-operator/postgres-base:15-bookworm
image=${POSTGRES_IMAGE:-microservice-operator/postgres:15}
docker=${DOCKER:-docker}
log="$root/.cluster/logs/postgres-image.log"
mkdir -p "$(dirname "$log")"
if ! "$docker" image inspect "$base" >/dev/null 2>&1; then
  command -v debootstrap >/dev/null || { apt-get update -qq && apt-get install -y -qq debootstrap >/dev/null; }
  rootfs=$(mktemp -d /tmp/postgres-rootfs.XXXXXX)
  trap 'rm -rf --one-file-system "$rootfs"' EXIT
  start=$SECONDS
  echo "debootstrapping bookworm with postgresql into $rootfs (log: $log)"
  debootstrap --variant=minbase --include=postgresql-15 bookworm "$rootfs" http://deb.debian.org/debian \
    >"$log" 2>&1 || { echo "postgres-image: debootstrap failed (log: $log)" >&2; exit 1; }
  old_uid=$(chroot "$rootfs" id -u postgres)
  old_gid=$(chroot "$rootfs" id -g postgres)
  chroot "$rootfs" groupmod -g 999 postgres
  chroot "$rootfs" usermod -u 999 -g 999 postgres
  find "$rootfs" -xdev \( -uid "$old_uid" -o -gid "$old_gid" \) -exec chown -h 999:999 {} +
  # No cluster of the package's own: the entrypoint makes one in PGDATA.
  rm -rf "$rootfs"/var/lib/postgresql/15 "$rootfs"/etc/postgresql/15 \
    "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
  install -d -o 999 -g 999 -m 0775 "$rootfs/run/postgresql" "$rootfs/var/lib/postgresql/data"
  tar -C "$rootfs" -c . | "$docker" import - "$base" >/dev/null
  echo "made $base in $((SECONDS - start))s"
fi
DOCKER_BUILDKIT=${DOCKER_BUILDKIT:-0} "$docker" build -q -f samples/postgres/Dockerfile \
  --build-arg "POSTGRES_BASE=$base" -t "$image" . >/dev/null
echo "built $image: $("$docker" run --rm --entrypoint postgres "$image" --version)"
