#!/usr/bin/env bash
# Makes sure a Docker engine answers: starts Debian's dockerd if none does.
# `hack/dockerd.sh stop` stops the one this script started (by its PID file), and nothing else.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
pidfile="$root/.cluster/dockerd.pid"
log="$root/.cluster/logs/dockerd.log"
docker=${DOCKER:-docker}
mkdir -p "$(dirname "$log")"

if [ "${1:-start}" = stop ]; then
  if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
    kill "$(cat "$pidfile")" && echo "stopped dockerd $(cat "$pidfile")"
  fi
  rm -f "$pidfile"
  exit 0
fi
if "$docker" info >/dev/null 2>&1; then
  exit 0
fi
if ! command -v dockerd >/dev/null; then
  echo "installing Debian's docker.io"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io >/dev/null
fi
echo "starting dockerd (log: $log)"
nohup dockerd >"$log" 2>&1 &
echo $! > "$pidfile"
for _ in $(seq 60); do
  "$docker" info >/dev/null 2>&1 && exit 0
  sleep 1
done
echo "dockerd: error: the engine did not answer within 60s (log: $log)" >&2
exit 1
