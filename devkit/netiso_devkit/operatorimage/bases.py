"""The local base image: Debian bookworm's python3, made by mmdebstrap from Debian packages.

The Dockerfile's pinned python base lives in a registry this machine cannot reach, so CI builds
an equivalent here: python 3.11 with pip and setuptools installed the way the python image has
them (in /usr/local, uninstallable, no EXTERNALLY-MANAGED marker), `python` on PATH, and
useradd. The root filesystem tarball is cached under the kit's cache, keyed by every input that
shapes it, and imported into buildah's storage as `localhost/netiso-base:<key>`.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

SUITE: Final = "bookworm"
MIRROR: Final = "http://deb.debian.org/debian"
# essential (Essential: yes only, no apt) keeps the base small; each addition says why.
VARIANT: Final = "essential"
PACKAGES: Final = (
    "python3",  # CPython 3.11, as the pinned release base
    "ca-certificates",  # a trust store; the build mounts the host's over its bundle
    "passwd",  # groupadd and useradd for the image's non-root user
    "python3-pip-whl",  # pip and setuptools, installed below and then purged
    "python3-setuptools-whl",
)
# Run in order inside the new root ("$1"). Debian disables ensurepip, so pip installs itself
# from its own wheel, into /usr/local like the python image, where `pip uninstall` works; with
# no bytecode, as the runtime stage uninstalls pip but the base layer keeps whatever it holds.
HOOKS: Final = (
    'rm -f "$1"/usr/lib/python3*/EXTERNALLY-MANAGED',
    'chroot "$1" sh -c \'wheel=$(ls /usr/share/python-wheels/pip-*.whl) && python3 "$wheel/pip"'
    " install --no-cache-dir --no-compile --no-index /usr/share/python-wheels/pip-*.whl"
    " /usr/share/python-wheels/setuptools-*.whl'",
    'chroot "$1" dpkg --purge python3-pip-whl python3-setuptools-whl',
    'ln -sf /usr/bin/python3 "$1"/usr/local/bin/python',
    'rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/* "$1"/var/cache/debconf/*-old'
    ' "$1"/usr/share/doc/* "$1"/usr/share/man/* "$1"/usr/share/locale/*',
)
BASE_NAME: Final = "localhost/netiso-base"
PATH_ENV: Final = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class ImageBuildError(RuntimeError):
    """A base or an image could not be made; the message says which command failed and why."""


@dataclass(frozen=True)
class BaseImage:
    """The base as buildah knows it, the tarball it came from, and whether it was made now."""

    name: str
    tarball: Path
    built: bool


def base_key() -> str:
    """A digest of everything that shapes the base (the archive's own updates aside)."""
    inputs = {
        "suite": SUITE,
        "mirror": MIRROR,
        "variant": VARIANT,
        "packages": list(PACKAGES),
        "hooks": list(HOOKS),
        "env": PATH_ENV,
        "mmdebstrap": _tool_version("mmdebstrap"),
    }
    return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()[:16]


def ensure_base(*, cache: Path, progress: Callable[[str], None]) -> BaseImage:
    """The base in buildah's storage: made by mmdebstrap only when the cache lacks its tarball,
    imported only when buildah lacks the image. Idempotent."""
    key = base_key()
    name = f"{BASE_NAME}:{key}"
    tarball = cache / "images" / f"netiso-base-{SUITE}-{key}.tar"
    built = False
    if not tarball.exists():
        progress(f"netiso image: making the Debian {SUITE} base with mmdebstrap ({tarball})")
        _mmdebstrap(tarball)
        built = True
        # The base of other inputs is not coming back: one tarball at a time in the cache.
        for stale in tarball.parent.glob("netiso-base-*.tar"):
            if stale != tarball:
                stale.unlink(missing_ok=True)
    if built or not image_exists(name):
        progress(f"netiso image: importing the base into buildah as {name}")
        _import(tarball, name)
        _remove_other_bases(keep=name)
    return BaseImage(name=name, tarball=tarball, built=built)


def image_exists(name: str) -> bool:
    result = subprocess.run(
        [buildah(), "inspect", "--type", "image", name],
        capture_output=True,
        check=False,
        timeout=60,
    )
    return result.returncode == 0


def buildah() -> str:
    return _tool("buildah")


def run_tool(command: list[str], *, timeout: float) -> str:
    """Run a build command; its stdout, or ImageBuildError with the tail of its output."""
    result = subprocess.run(command, capture_output=True, text=True, check=False, timeout=timeout)
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-25:])
        raise ImageBuildError(f"{' '.join(command[:3])} ... failed ({result.returncode}):\n{tail}")
    return result.stdout


def _mmdebstrap(tarball: Path) -> None:
    tarball.parent.mkdir(parents=True, exist_ok=True)
    scratch = tarball.with_suffix(f".{os.getpid()}.tmp")
    command = [_tool("mmdebstrap"), "--mode=root", f"--variant={VARIANT}", "--format=tar"]
    command += [f"--include={','.join(PACKAGES)}"]
    command += [f"--customize-hook={hook}" for hook in HOOKS]
    try:
        run_tool([*command, SUITE, str(scratch), MIRROR], timeout=1800)
        scratch.replace(tarball)
    finally:
        scratch.unlink(missing_ok=True)


def _import(tarball: Path, name: str) -> None:
    # A two-line Containerfile rather than `buildah add` on a working container: one command,
    # nothing to clean up when it fails halfway.
    with tempfile.TemporaryDirectory(prefix="netiso-base-") as scratch:
        context = Path(scratch)
        try:
            os.link(tarball, context / "rootfs.tar")
        except OSError:  # another filesystem: copy instead
            shutil.copy(tarball, context / "rootfs.tar")
        (context / "Containerfile").write_text(
            f'FROM scratch\nADD rootfs.tar /\nENV {PATH_ENV}\nCMD ["python3"]\n'
        )
        run_tool(
            [buildah(), "bud", "--isolation", "chroot", "--quiet", "-t", name, scratch],
            timeout=600,
        )


def _remove_other_bases(*, keep: str) -> None:
    listed = run_tool([buildah(), "images", "--format", "{{.Name}}:{{.Tag}}"], timeout=60)
    older = [line for line in listed.split() if line.startswith(BASE_NAME + ":") and line != keep]
    if older:
        run_tool([buildah(), "rmi", *older], timeout=300)


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise ImageBuildError(f"`{name}` is not installed; run .ci/install-system-deps.sh")
    return found


def _tool_version(name: str) -> str:
    return run_tool([_tool(name), "--version"], timeout=60).strip()
