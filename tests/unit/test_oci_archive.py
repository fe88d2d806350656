"""tools/oci_archive.py: a `docker save` archive (old format) into an OCI image layout."""

from __future__ import annotations

import hashlib
import importlib.util
import io
import json
import tarfile
from pathlib import Path

from hypothesis import given, settings, strategies as st

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("oci_archive", ROOT / "tools" / "oci_archive.py")
oci_archive = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(oci_archive)


def add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def layer_tar(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, data in files.items():
            add(tar, name, data)
    return buffer.getvalue()


def docker_save(path: Path, layers: list[bytes], tag: str | None = "daskrun:0.1.0") -> bytes:
    """The format Docker before 25 writes: manifest.json, <id>.json, <dir>/layer.tar."""
    diff_ids = [f"sha256:{hashlib.sha256(layer).hexdigest()}" for layer in layers]
    config = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": diff_ids}}).encode()
    with tarfile.open(path, "w") as tar:
        add(tar, "cfg.json", config)
        for i, layer in enumerate(layers):
            add(tar, f"l{i}/layer.tar", layer)
        manifest = [{"Config": "cfg.json", "RepoTags": [tag] if tag else None, "Layers": [f"l{i}/layer.tar" for i in range(len(layers))]}]
        add(tar, "manifest.json", json.dumps(manifest).encode())
    return config


def read_layout(path: Path) -> tuple[dict, dict[str, bytes]]:
    with tarfile.open(path) as tar:
        files = {m.name: tar.extractfile(m).read() for m in tar.getmembers()}
    return json.loads(files["index.json"]), files


def check_blobs(files: dict[str, bytes]) -> None:
    for name, data in files.items():
        if name.startswith("blobs/sha256/"):
            assert hashlib.sha256(data).hexdigest() == name.rsplit("/", 1)[1], name


def test_docker_archive_becomes_an_oci_layout(tmp_path):
    layers = [layer_tar({"etc/a": b"a"}), layer_tar({"opt/b": b"b" * 5000})]
    config = docker_save(tmp_path / "in.tar", layers)
    assert oci_archive.convert(tmp_path / "in.tar", tmp_path / "out.tar") == "converted"
    index, files = read_layout(tmp_path / "out.tar")
    assert json.loads(files["oci-layout"]) == {"imageLayoutVersion": "1.0.0"}
    check_blobs(files)
    [descriptor] = index["manifests"]
    assert descriptor["annotations"] == {"org.opencontainers.image.ref.name": "0.1.0",
                                         "io.containerd.image.name": "daskrun:0.1.0"}
    manifest = json.loads(files[f"blobs/sha256/{descriptor['digest'].split(':')[1]}"])
    assert manifest["mediaType"] == oci_archive.MANIFEST and descriptor["size"] == len(json.dumps(manifest))
    assert files[f"blobs/sha256/{manifest['config']['digest'].split(':')[1]}"] == config
    # The layers' digests are the config's diff_ids: what a runtime checks after unpacking.
    assert [layer["digest"] for layer in manifest["layers"]] == json.loads(config)["rootfs"]["diff_ids"]


def test_an_oci_archive_is_copied_unchanged(tmp_path):
    docker_save(tmp_path / "in.tar", [layer_tar({"x": b"x"})])
    oci_archive.convert(tmp_path / "in.tar", tmp_path / "oci.tar")
    assert oci_archive.convert(tmp_path / "oci.tar", tmp_path / "again.tar") == "copied"
    assert (tmp_path / "again.tar").read_bytes() == (tmp_path / "oci.tar").read_bytes()


@settings(max_examples=25, deadline=None)
@given(contents=st.lists(st.binary(max_size=3000), min_size=1, max_size=4),
       tag=st.sampled_from(["daskrun:0.1.0", "registry.local:5000/ml/daskrun", None]))
def test_any_layers_and_tags(tmp_path_factory, contents, tag):
    """Repeated layers become one blob, every blob is named by its digest, and a tagless or
    registry-with-port reference still gets a valid name."""
    tmp = tmp_path_factory.mktemp("oci")
    layers = [layer_tar({"f": data}) for data in contents]
    docker_save(tmp / "in.tar", layers, tag)
    oci_archive.convert(tmp / "in.tar", tmp / "out.tar")
    index, files = read_layout(tmp / "out.tar")
    check_blobs(files)
    blobs = [n for n in files if n.startswith("blobs/")]
    assert len(blobs) == len(set(layers)) + 2  # layers, config, manifest
    annotations = index["manifests"][0].get("annotations")
    if tag is None:
        assert annotations is None
    else:
        assert annotations["io.containerd.image.name"].endswith(":" + annotations["org.opencontainers.image.ref.name"])
