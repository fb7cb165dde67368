"""Entries of the binary cache: their manifests, the build lock, atomic publication.

A cache entry is a directory of executables plus a manifest of how they were built; builds
run under a file lock and land by rename, so concurrent callers see none or a whole entry.
Part of netiso_devkit.localcluster, which knows nothing of the operator.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Final

from netiso_devkit.localcluster.gotoolchain import say_on_stderr

_MANIFEST: Final = "manifest.json"


@dataclass(frozen=True)
class Built:
    """What a cache entry's manifest records about one build."""

    version: str
    go_version: str | None
    source: str
    build_seconds: float


def read_manifest(directory: Path, names: tuple[str, ...]) -> Built | None:
    """The cache entry's record, or None when it is absent or incomplete."""
    try:
        raw = json.loads((directory / _MANIFEST).read_text())
    except (OSError, ValueError):
        return None
    if not all(os.access(directory / name, os.X_OK) for name in names):
        return None
    return Built(
        version=str(raw["version"]),
        go_version=raw.get("go_version"),
        source=str(raw["source"]),
        build_seconds=float(raw.get("build_seconds", 0)),
    )


def write_manifest(directory: Path, built: Built) -> None:
    (directory / _MANIFEST).write_text(json.dumps(asdict(built), indent=2) + "\n")


@contextmanager
def build_lock(root: Path) -> Iterator[None]:
    """Hold an exclusive lock on the cache while building; waits for a concurrent builder."""
    root.mkdir(parents=True, exist_ok=True)
    with (root / ".build.lock").open("w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            say_on_stderr(f"netiso: another process is building into {root}; waiting for it")
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextmanager
def staging_dir(root: Path, *, name: str) -> Iterator[Path]:
    """A scratch directory next to the cache entry, removed unless it was published."""
    scratch = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=root))
    try:
        yield scratch
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def publish(scratch: Path, target: Path) -> None:
    # rename(2) is atomic: readers see either no entry or a complete one. A stale, incomplete
    # entry (no manifest) is moved away first because rename cannot replace a full directory.
    if target.exists():
        shutil.rmtree(target)
    # mkdtemp made it private; the cache is meant to be readable like any other.
    scratch.chmod(0o755)
    scratch.rename(target)
