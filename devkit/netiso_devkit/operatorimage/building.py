"""Build the operator image from the repository's Dockerfile with buildah, on the local base.

`python -m netiso_devkit.operatorimage.building` (CI runs it as its own step) makes or reuses
the base (bases.py), builds the Dockerfile with `buildah bud --isolation chroot` (the VM
withholds capabilities runc's default isolation needs), tags it as the manifests name it, and
writes a docker-archive for `ctr images import`. The build is keyed by its context (what
.dockerignore admits, the Dockerfile, the base), so an unchanged tree is not rebuilt.
`--release` builds on the Dockerfile's pinned base instead, which needs its registry.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fnmatch import fnmatch
from pathlib import Path
from typing import Any, Final

from netiso_devkit.localcluster.binaries import cache_dir
from netiso_devkit.operatorimage.bases import (
    BaseImage,
    ImageBuildError,
    buildah,
    ensure_base,
    image_exists,
    run_tool,
)

REPOSITORY: Final = "ghcr.io/netiso/netiso"
BUILD_NAME: Final = "localhost/netiso/netiso"
# The host's trust store, mounted over the base's bundle for the build's RUN steps only: a
# TLS-intercepting proxy or a private index on the build machine works, and nothing of it lands
# in a layer (the file exists in the base, so no mount point is left behind either). Debian's
# pip reads the system bundle.
HOST_CA_BUNDLE: Final = Path("/etc/ssl/certs/ca-certificates.crt")
REPO: Final = Path(__file__).resolve().parents[3]


@dataclass(frozen=True)
class OperatorImage:
    """A built image: buildah's name for it (keyed by context), the manifests' reference, the
    base it stands on (None: the Dockerfile's pinned one) and whether it was built now."""

    name: str
    reference: str
    base: BaseImage | None
    built: bool


def project_version(repo: Path) -> str:
    with (repo / "pyproject.toml").open("rb") as fh:
        version: str = tomllib.load(fh)["project"]["version"]
    return version


def context_files(repo: Path) -> Iterator[Path]:
    """The files of the build context: what .dockerignore's allow-list admits, and the
    Dockerfile itself."""
    admitted: list[str] = []
    excluded: list[str] = []
    for raw in (repo / ".dockerignore").read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or line == "*":
            continue
        if line.startswith("!"):
            admitted.append(line[1:].rstrip("/"))
        else:
            excluded.append(line.removeprefix("**/"))
    yield repo / "Dockerfile"
    yield repo / ".dockerignore"
    for entry in sorted(admitted):
        path = repo / entry
        candidates = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
        for candidate in candidates:
            parts = candidate.relative_to(repo).parts
            if not any(fnmatch(part, pattern) for part in parts for pattern in excluded):
                yield candidate


def context_key(repo: Path, *, base: str) -> str:
    digest = hashlib.sha256(base.encode())
    for path in context_files(repo):
        digest.update(path.relative_to(repo).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def ensure_image(
    *, repo: Path = REPO, progress: Callable[[str], None], release: bool = False
) -> OperatorImage:
    """The operator image in buildah's storage, tagged `ghcr.io/netiso/netiso:<version>`:
    built only when no image of the same context exists. Idempotent."""
    base = None if release else ensure_base(cache=cache_dir(), progress=progress)
    key = context_key(repo, base="pinned" if base is None else base.name)
    name = f"{BUILD_NAME}:{key}"
    reference = f"{REPOSITORY}:{project_version(repo)}"
    built = False
    if not image_exists(name):
        progress(f"netiso image: buildah bud {name} (base {base.name if base else 'pinned'})")
        # No --layers: buildah 1.28 reuses a cached runtime stage whose RUN bind-mounts the
        # builder stage's wheels even when they changed; the whole build is keyed above instead.
        command = [buildah(), "bud", "--isolation", "chroot", "--layers=false", "-t", name]
        if base is not None:
            command += ["--build-arg", f"BASE_IMAGE={base.name}"]
        if HOST_CA_BUNDLE.exists():
            command += ["--volume", f"{HOST_CA_BUNDLE}:{HOST_CA_BUNDLE}:ro"]
        run_tool([*command, str(repo)], timeout=1800)
        built = True
    run_tool([buildah(), "tag", name, reference], timeout=60)
    if built:
        _remove_older_builds(keep=name)
    return OperatorImage(name=name, reference=reference, base=base, built=built)


def image_config(name: str) -> dict[str, Any]:
    """The image's OCI config (`User`, `Env`, `Entrypoint`, `Cmd`, `WorkingDir`, `Labels`)."""
    inspected = json.loads(run_tool([buildah(), "inspect", "--type", "image", name], timeout=60))
    config: dict[str, Any] = inspected["OCIv1"]["config"]
    return config


def export_archive(image: OperatorImage, *, cache: Path) -> Path:
    """A docker-archive of the image named as the manifests name it (what `ctr images import`
    takes), cached per build key."""
    key = image.name.rsplit(":", 1)[-1]
    path = cache / "images" / f"netiso-{key}.tar"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        scratch = path.with_suffix(".tmp")
        scratch.unlink(missing_ok=True)
        run_tool(
            [
                buildah(),
                "push",
                "--quiet",
                image.name,
                f"docker-archive:{scratch}:{image.reference}",
            ],
            timeout=600,
        )
        scratch.replace(path)
        # One archive per build key: older builds' archives go, the bases stay.
        for stale in path.parent.glob("netiso-[0-9a-f]*.tar"):
            if stale != path and len(stale.stem) == len("netiso-") + len(key):
                stale.unlink(missing_ok=True)
    return path


def _remove_older_builds(*, keep: str) -> None:
    """Untag earlier builds of the operator image so their layers do not pile up in buildah's
    storage (the base and the layer cache stay)."""
    listed = run_tool([buildah(), "images", "--format", "{{.Name}}:{{.Tag}}"], timeout=60)
    older = [line for line in listed.split() if line.startswith(BUILD_NAME + ":") and line != keep]
    if older:
        run_tool([buildah(), "rmi", *older], timeout=300)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--release", action="store_true", help="build on the Dockerfile's pinned base"
    )
    args = parser.parse_args(argv)
    started = time.monotonic()
    say = _say
    try:
        image = ensure_image(progress=say, release=args.release)
        archive = export_archive(image, cache=cache_dir())
    except ImageBuildError as error:
        say(f"netiso: {error}")
        return 1
    base = image.base
    if base is not None:
        print(f"base {base.name} ({'made now' if base.built else 'cached'}: {base.tarball})")
    print(f"image {image.name} = {image.reference} ({'built now' if image.built else 'cached'})")
    print(f"archive {archive} ({archive.stat().st_size / 2**20:.0f} MiB)")
    print(f"ready in {time.monotonic() - started:.1f} s")
    return 0


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
