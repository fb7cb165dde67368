"""Run a command in a built image with runc, as a kubelet would run the operator's container.

No container engine runs here (no Docker; `buildah run` has no read-only root), and Debian's
runc is already installed for the dataplane: the image's root filesystem is mounted by buildah
and runc runs the command with it read-only, as the image's own user, in new namespaces with a
network of loopback only, so nothing in it reaches anything off this machine.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from netiso_devkit.operatorimage.bases import ImageBuildError, buildah, run_tool
from netiso_devkit.operatorimage.building import image_config


@dataclass(frozen=True)
class ContainerRun:
    """What a command in the container did."""

    returncode: int
    stdout: str
    stderr: str


@contextmanager
def mounted_rootfs(image: str) -> Iterator[Path]:
    """The image's root filesystem, mounted from a buildah working container removed after."""
    container = run_tool([buildah(), "from", "--pull-never", image], timeout=120).strip()
    try:
        yield Path(run_tool([buildah(), "mount", container], timeout=60).strip())
    finally:
        subprocess.run([buildah(), "rm", container], capture_output=True, check=False, timeout=60)


def run_in_image(
    image: str,
    *,
    rootfs: Path,
    args: list[str] | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = 120,
) -> ContainerRun:
    """Run `args` (default: the image's ENTRYPOINT and CMD) in `image` whose root filesystem is
    mounted at `rootfs`: read-only, as the image's USER, in its WorkingDir, with its Env (and
    `env` on top), under runc."""
    config = image_config(image)
    command = args if args is not None else [*config.get("Entrypoint", []), *config["Cmd"]]
    spec = _spec(config, rootfs=rootfs, args=command, env=env or {})
    runc = shutil.which("runc")
    if runc is None:
        raise ImageBuildError("`runc` is not installed; run .ci/install-system-deps.sh")
    with tempfile.TemporaryDirectory(prefix="netiso-runc-") as scratch:
        bundle = Path(scratch)
        (bundle / "config.json").write_text(json.dumps(spec))
        # A state directory of our own keeps clear of containerd's runc containers.
        state = bundle / "state"
        name = f"netiso-image-{uuid.uuid4().hex[:8]}"
        try:
            result = subprocess.run(
                [runc, "--root", str(state), "run", "--bundle", str(bundle), name],
                capture_output=True,
                text=True,
                stdin=subprocess.DEVNULL,
                check=False,
                timeout=timeout,
            )
        finally:
            subprocess.run(
                [runc, "--root", str(state), "delete", "--force", name],
                capture_output=True,
                check=False,
                timeout=60,
            )
    return ContainerRun(result.returncode, result.stdout, result.stderr)


def _user(config: Mapping[str, Any]) -> tuple[int, int]:
    user = str(config.get("User") or "0")
    uid, _, gid = user.partition(":")
    if not uid.isdigit() or (gid and not gid.isdigit()):
        raise ImageBuildError(f"the image's USER {user!r} is not numeric")
    return int(uid), int(gid or uid)


def _spec(
    config: Mapping[str, Any], *, rootfs: Path, args: list[str], env: Mapping[str, str]
) -> dict[str, Any]:
    uid, gid = _user(config)
    environment = [*config.get("Env", []), *(f"{k}={v}" for k, v in env.items())]
    capabilities: list[str] = []  # the restricted Pod Security level drops them all
    return {
        "ociVersion": "1.0.2",
        "process": {
            "terminal": False,
            "user": {"uid": uid, "gid": gid},
            "args": args,
            "env": environment,
            "cwd": config.get("WorkingDir") or "/",
            "capabilities": {key: capabilities for key in ("bounding", "effective", "permitted")},
            "noNewPrivileges": True,
        },
        "root": {"path": str(rootfs), "readonly": True},
        "hostname": "netiso-image",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {
                "destination": "/dev",
                "type": "tmpfs",
                "source": "tmpfs",
                "options": ["nosuid", "strictatime", "mode=755", "size=65536k"],
            },
            {
                "destination": "/sys",
                "type": "sysfs",
                "source": "sysfs",
                "options": ["nosuid", "noexec", "nodev", "ro"],
            },
        ],
        "linux": {
            "namespaces": [{"type": kind} for kind in ("pid", "network", "ipc", "uts", "mount")],
            "maskedPaths": ["/proc/kcore", "/proc/keys", "/sys/firmware"],
            "readonlyPaths": ["/proc/sys", "/proc/sysrq-trigger"],
        },
    }
