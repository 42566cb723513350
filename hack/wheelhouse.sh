#!/usr/bin/env bash
# Downloads the wheels an image needs, for the Python and the platform of its base image, into
# wheelhouse/NAME/OS-ARCH (wheelhouse/operator/linux-arm64 for PLATFORM=linux/arm64).
# The image build then installs them with --no-index: no network, and no TLS setup, inside it.
# Usage: [PLATFORM=linux/amd64|linux/arm64] [PYTHON_VERSION=3.11] [WHEELHOUSE=DIR] \
#          hack/wheelhouse.sh NAME BASE_IMAGE PROJECT_DIR [PROJECT_DIR ...]
# PLATFORM defaults to the engine's own; PYTHON_VERSION to the base image's python3 (run in it, so a
# base of another platform needs an engine that can run its binaries); WHEELHOUSE to the folder above.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
name=$1 base=$2; shift 2
docker=${DOCKER:-docker}
platform=${PLATFORM:-$("$docker" version --format '{{.Server.Os}}/{{.Server.Arch}}')}
case "$platform" in
  linux/amd64) arch=x86_64 ;;
  linux/arm64 | linux/arm64/v8) arch=aarch64 ;;
  *) echo "wheelhouse: error: platform $platform is not supported (linux/amd64, linux/arm64)" >&2; exit 1 ;;
esac
out=${WHEELHOUSE:-$root/wheelhouse/$name/${platform//\//-}}
pyver=${PYTHON_VERSION:-$("$docker" run --rm --platform "$platform" "$base" python3 -c \
  'import sys; print("%d.%d" % sys.version_info[:2])')}
abi="cp${pyver/./}"
mkdir -p "$out" && find "$out" -mindepth 1 ! -name .gitkeep -delete
python3 "$root/hack/requirements.py" "$@" > "$out/requirements.txt"
platforms=()
for p in manylinux_2_36 manylinux_2_34 manylinux_2_28 manylinux_2_17 manylinux2014; do
  platforms+=(--platform "${p}_${arch}")
done
"$root/.venv/bin/pip" download --quiet --disable-pip-version-check --dest "$out" --only-binary=:all: \
  --python-version "$pyver" --implementation cp --abi "$abi" --abi abi3 --abi none "${platforms[@]}" \
  -c "$root/hack/constraints.txt" -r "$out/requirements.txt" "setuptools>=69"
echo "wheelhouse $out: $(ls "$out"/*.whl | wc -l) wheels for Python $pyver on $platform"
