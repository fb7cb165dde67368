"""The dataplane's container images, packed here as OCI archives: nothing is ever pulled.

pause (the sandbox image) and agnhost (servers and clients for traffic tests, with busybox for
a shell) are single-layer images around programs built by nodebuilds.py. Archives are cached
next to the programs, keyed by their content, and imported with `ctr images import`. Part of
netiso_devkit.dataplane.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

PAUSE_IMAGE: Final = "localhost/netiso-dp/pause:1"
AGNHOST_IMAGE: Final = "localhost/netiso-dp/agnhost:v1.35.4"
BUSYBOX: Final = Path("/bin/busybox")


class ImageError(RuntimeError):
    """An image could not be packed or imported; the message says why."""


@dataclass(frozen=True)
class ImageSpec:
    """One single-layer image: files (path in image -> file on disk), links, entrypoint."""

    name: str
    files: Mapping[str, Path]
    entrypoint: tuple[str, ...]
    symlinks: Mapping[str, str]


def pause_image(pause: Path) -> ImageSpec:
    return ImageSpec(PAUSE_IMAGE, {"pause": pause}, ("/pause",), {})


def agnhost_image(agnhost: Path, *, name: str = AGNHOST_IMAGE) -> ImageSpec:
    files = {"agnhost": agnhost}
    links: dict[str, str] = {}
    # busybox-static gives `kubectl exec` and agnhost's /shell endpoint a shell to run.
    if BUSYBOX.exists():
        files["bin/busybox"] = BUSYBOX
        links = {"bin/sh": "busybox"}
    return ImageSpec(name, files, ("/agnhost",), links)


def archive_for(spec: ImageSpec, *, cache: Path) -> Path:
    """The OCI archive of `spec` under `cache`, packed unless an identical one is cached."""
    key = hashlib.sha256(json.dumps(_identity(spec), sort_keys=True).encode()).hexdigest()[:16]
    path = cache / "images" / f"{spec.name.rsplit('/', 1)[-1].replace(':', '-')}-{key}.tar"
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    scratch = path.with_suffix(f".{os.getpid()}.tmp")
    _pack(spec, scratch)
    scratch.replace(path)
    return path


def import_archive(archive: Path, *, ctr: str, address: Path) -> None:
    """`ctr -n k8s.io images import` the archive into the containerd at `address` (unpacked)."""
    result = subprocess.run(
        [ctr, "--address", str(address), "-n", "k8s.io", "images", "import", str(archive)],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    if result.returncode != 0:
        raise ImageError(f"ctr images import {archive} failed: {result.stderr.strip()}")


def ctr_binary() -> str:
    found = shutil.which("ctr")
    if found is None:
        raise ImageError(
            "`ctr` is not installed (Debian containerd); run .ci/install-system-deps.sh"
        )
    return found


def _identity(spec: ImageSpec) -> dict[str, Any]:
    # Size and mtime stand in for the content: the programs are rebuilt, never edited.
    return {
        "name": spec.name,
        "files": {
            k: [str(v), v.stat().st_size, v.stat().st_mtime_ns] for k, v in spec.files.items()
        },
        "entrypoint": list(spec.entrypoint),
        "symlinks": dict(spec.symlinks),
    }


def _layer(spec: ImageSpec) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as layer:
        directories = sorted({str(Path(p).parent) for p in [*spec.files, *spec.symlinks]} - {"."})
        for directory in directories:
            info = tarfile.TarInfo(directory)
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            layer.addfile(info)
        for inside, source in sorted(spec.files.items()):
            info = tarfile.TarInfo(inside)
            info.size, info.mode = source.stat().st_size, 0o755
            with source.open("rb") as handle:
                layer.addfile(info, handle)
        for inside, target in sorted(spec.symlinks.items()):
            info = tarfile.TarInfo(inside)
            info.type, info.linkname = tarfile.SYMTYPE, target
            layer.addfile(info)
    return buffer.getvalue()


def _blob(blobs: dict[str, bytes], data: bytes) -> str:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    blobs[digest] = data
    return digest


def _pack(spec: ImageSpec, path: Path) -> None:
    blobs: dict[str, bytes] = {}
    layer = _layer(spec)
    layer_digest = _blob(blobs, layer)
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {"Entrypoint": list(spec.entrypoint), "WorkingDir": "/"},
            "rootfs": {"type": "layers", "diff_ids": [layer_digest]},
        }
    ).encode()
    config_digest = _blob(blobs, config)
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": config_digest,
                "size": len(config),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": layer_digest,
                    "size": len(layer),
                }
            ],
        }
    ).encode()
    manifest_digest = _blob(blobs, manifest)
    index = {
        "schemaVersion": 2,
        "manifests": [
            {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": manifest_digest,
                "size": len(manifest),
                "platform": {"architecture": "amd64", "os": "linux"},
                "annotations": {
                    # containerd names the imported image after this annotation.
                    "io.containerd.image.name": spec.name,
                    "org.opencontainers.image.ref.name": spec.name.rsplit(":", 1)[-1],
                },
            }
        ],
    }
    files = {
        "oci-layout": json.dumps({"imageLayoutVersion": "1.0.0"}).encode(),
        "index.json": json.dumps(index).encode(),
        **{f"blobs/sha256/{d.removeprefix('sha256:')}": data for d, data in blobs.items()},
    }
    with tarfile.open(path, mode="w") as archive:
        for directory in ("blobs", "blobs/sha256"):
            info = tarfile.TarInfo(directory)
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            archive.addfile(info)
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o644
            archive.addfile(info, io.BytesIO(data))
