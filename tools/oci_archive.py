"""Turn a `docker save` archive into an OCI image layout archive (`make package`).

    python tools/oci_archive.py DOCKER_SAVE.tar OCI.tar

Docker 25 and newer already save an OCI layout (index.json, oci-layout, blobs/sha256/):
such an archive is copied unchanged. Older daemons (the cluster scripts' Debian dockerd)
write the Docker archive format (manifest.json, <id>.json, <layer>/layer.tar); its config and
layers become blobs, with an image manifest and an index naming the image, so registries'
tools (`skopeo copy oci-archive:`, `crane push`, `oras`) and `ctr images import` read it.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import sys
import tarfile
from pathlib import Path
from typing import IO

MANIFEST = "application/vnd.oci.image.manifest.v1+json"
INDEX = "application/vnd.oci.image.index.v1+json"
CONFIG = "application/vnd.oci.image.config.v1+json"
LAYER = "application/vnd.oci.image.layer.v1.tar"  # docker save layers are uncompressed
CHUNK = 1 << 20


def _digest(stream: IO[bytes]) -> tuple[str, int]:
    sha, size = hashlib.sha256(), 0
    while chunk := stream.read(CHUNK):
        sha.update(chunk)
        size += len(chunk)
    return f"sha256:{sha.hexdigest()}", size


def _add_bytes(out: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    out.addfile(info, io.BytesIO(data))


def _add_blob(out: tarfile.TarFile, data: bytes, media_type: str) -> dict:
    digest = f"sha256:{hashlib.sha256(data).hexdigest()}"
    _add_bytes(out, f"blobs/sha256/{digest.split(':')[1]}", data)
    return {"mediaType": media_type, "digest": digest, "size": len(data)}


def _ref_annotations(repo_tag: str) -> dict[str, str]:
    repository, _, tag = repo_tag.rpartition(":")
    if "/" in tag or not repository:  # no tag, or a registry port: latest
        repository, tag = repo_tag, "latest"
    return {"org.opencontainers.image.ref.name": tag, "io.containerd.image.name": f"{repository}:{tag}"}


def convert(source: Path, target: Path) -> str:
    """Write target; return 'copied' (already OCI) or 'converted'."""
    with tarfile.open(source) as docker:
        names = set(docker.getnames())
        if "index.json" in names and "oci-layout" in names:
            shutil.copyfile(source, target)
            return "copied"
        [image] = json.load(docker.extractfile("manifest.json"))
        with tarfile.open(target, "w") as out:
            _add_bytes(out, "oci-layout", json.dumps({"imageLayoutVersion": "1.0.0"}).encode())
            config = _add_blob(out, docker.extractfile(image["Config"]).read(), CONFIG)
            layers, written = [], set()
            for layer in image["Layers"]:
                digest, size = _digest(docker.extractfile(layer))
                if digest not in written:  # the same layer twice in one image is one blob
                    info = tarfile.TarInfo(f"blobs/sha256/{digest.split(':')[1]}")
                    info.size = size
                    out.addfile(info, docker.extractfile(layer))
                    written.add(digest)
                layers.append({"mediaType": LAYER, "digest": digest, "size": size})
            manifest = {"schemaVersion": 2, "mediaType": MANIFEST, "config": config, "layers": layers}
            descriptor = _add_blob(out, json.dumps(manifest).encode(), MANIFEST)
            tags = image.get("RepoTags") or []
            if tags:
                descriptor["annotations"] = _ref_annotations(tags[0])
            index = {"schemaVersion": 2, "mediaType": INDEX, "manifests": [descriptor]}
            _add_bytes(out, "index.json", json.dumps(index).encode())
    return "converted"


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    print(f"{convert(Path(sys.argv[1]), Path(sys.argv[2]))} {sys.argv[1]} -> {sys.argv[2]}")
