#!/usr/bin/env bash
# Downloads the wheels an image needs, for the Python of its base image, into wheelhouse/NAME.
# The image build then installs them with --no-index: no network, and no TLS setup, inside it.
# Usage: hack/wheelhouse.sh NAME BASE_IMAGE PROJECT_DIR [PROJECT_DIR ...]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
name=$1 base=$2; shift 2
docker=${DOCKER:-docker}
out="$root/wheelhouse/$name"
pyver=$("$docker" run --rm "$base" python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')
abi="cp${pyver/./}"
mkdir -p "$out" && find "$out" -mindepth 1 ! -name .gitkeep -delete
python3 "$root/hack/requirements.py" "$@" > "$out/requirements.txt"
platforms=()
for p in manylinux_2_36 manylinux_2_34 manylinux_2_28 manylinux_2_17 manylinux2014; do
  platforms+=(--platform "${p}_x86_64")
done
"$root/.venv/bin/pip" download --quiet --disable-pip-version-check --dest "$out" --only-binary=:all: \
  --python-version "$pyver" --implementation cp --abi "$abi" --abi abi3 --abi none "${platforms[@]}" \
  -c "$root/hack/constraints.txt" -r "$out/requirements.txt" "setuptools>=69"
echo "wheelhouse $out: $(ls "$out"/*.whl | wc -l) wheels for Python $pyver"
