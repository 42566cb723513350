#!/usr/bin/env bash
# One-step setup: Debian packages, the Python virtualenv, and the local control plane binaries.
# Idempotent: each part is skipped when what it installs is already there and up to date.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
venv="$root/.venv"
operator_venv="$root/.venv-operator"
python=${PYTHON:-python3}

# docker.io and debootstrap make the images; containerd, runc, the CNI plugins, iptables,
# conntrack and iproute2 run the local cluster's real node; postgresql is the server the tests of
# the samples' stores start on 127.0.0.1.
apt_packages="ca-certificates git make procps curl openssl docker.io debootstrap containerd runc postgresql
containernetworking-plugins iptables conntrack iproute2"
missing=""
for p in $apt_packages; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
if [ -n "$missing" ]; then
  echo "installing Debian packages:$missing"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
fi
command -v go >/dev/null || { echo "install: error: Go is required to build the control plane" >&2; exit 1; }

stamp="$venv/.installed"
# The project (pyproject.toml at the root; its version in the package's __init__.py, which the
# editable install's metadata copies), the samples, and the pins.
want=$(cat pyproject.toml operator/microservice_operator/__init__.py samples/*/pyproject.toml hack/constraints.txt |
  sha256sum | cut -c1-16)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ] || [ ! -x "$operator_venv/bin/microservice-operator" ]; then
  echo "creating $venv and $operator_venv"
  [ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
  "$venv/bin/pip" install -q --upgrade pip
  "$venv/bin/pip" install -q -c hack/constraints.txt -e ".[test]" \
    -e samples/common -e samples/user-service -e samples/order-service
  # The operator alone, as its image installs it: tests and benchmarks run it from here, so a
  # dependency the package forgets to declare fails them, and their memory figures are the image's.
  [ -x "$operator_venv/bin/python" ] || "$python" -m venv "$operator_venv"
  "$operator_venv/bin/pip" install -q --upgrade pip
  "$operator_venv/bin/pip" install -q -c hack/constraints.txt -e .
  echo "$want" > "$stamp"
else
  echo "virtualenvs up to date in $venv and $operator_venv"
fi

"$root/hack/cluster/build.sh"
