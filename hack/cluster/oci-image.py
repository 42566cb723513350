#!/usr/bin/env python3
"""Packs one static binary as a single-layer OCI image archive, for `ctr images import`.

    oci-image.py BINARY IMAGE_NAME OUTPUT.tar

No registry is reachable here, so the pod sandbox image (the pause process) is made from the
binary built in modules/pause. The archive is an OCI image layout; containerd reads the image's
name from the io.containerd.image.name annotation of its index.
"""

from __future__ import annotations

import hashlib
import io
import json
import sys
import tarfile
from pathlib import Path


def _add(archive: tarfile.TarFile, name: str, data: bytes, mode: int = 0o644) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), mode, 0
    archive.addfile(info, io.BytesIO(data))


def _layer(binary: Path) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as layer:
        _add(layer, binary.name, binary.read_bytes(), mode=0o755)
    return out.getvalue()


def _blob(archive: tarfile.TarFile, media_type: str, data: bytes) -> dict[str, object]:
    digest = hashlib.sha256(data).hexdigest()
    _add(archive, f"blobs/sha256/{digest}", data)
    return {"mediaType": media_type, "digest": f"sha256:{digest}", "size": len(data)}


def main(binary: Path, image: str, output: Path) -> None:
    layer = _layer(binary)
    config = {
        "architecture": "amd64", "os": "linux",
        "config": {"Entrypoint": [f"/{binary.name}"], "User": "65535:65535"},
        "rootfs": {"type": "layers", "diff_ids": [f"sha256:{hashlib.sha256(layer).hexdigest()}"]},
    }
    with tarfile.open(output, mode="w") as archive:
        layer_desc = _blob(archive, "application/vnd.oci.image.layer.v1.tar", layer)
        config_desc = _blob(archive, "application/vnd.oci.image.config.v1+json", json.dumps(config).encode())
        manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "config": config_desc, "layers": [layer_desc]}
        manifest_desc = _blob(archive, "application/vnd.oci.image.manifest.v1+json", json.dumps(manifest).encode())
        manifest_desc["platform"] = {"architecture": "amd64", "os": "linux"}
        manifest_desc["annotations"] = {"io.containerd.image.name": image,
                                        "org.opencontainers.image.ref.name": image.rsplit(":", 1)[-1]}
        index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                 "manifests": [manifest_desc]}
        _add(archive, "index.json", json.dumps(index).encode())
        _add(archive, "oci-layout", json.dumps({"imageLayoutVersion": "1.0.0"}).encode())


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    main(Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3]))
