"""Binaries someone else provides: a KUBEBUILDER_ASSETS folder, and the versions they report.

Finds and checks $KUBEBUILDER_ASSETS, applies Kubernetes' version-skew policy to its
controller-manager, and reads the versions of kube-apiserver and etcd binaries from --version.
Part of netiso_devkit.localcluster, which knows nothing of the operator.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from typing import Final

from netiso_devkit.localcluster.gotoolchain import BinariesError, check_semver
from netiso_devkit.localcluster.progress import Progress

KUBEBUILDER_ASSETS_ENV: Final = "KUBEBUILDER_ASSETS"


def kubebuilder_assets() -> Path | None:
    """$KUBEBUILDER_ASSETS (what `setup-envtest use -p path` prints) when it names a directory
    holding a kube-apiserver; None when unset. Set but unusable is an error, not a silent build
    of something else."""
    raw = os.environ.get(KUBEBUILDER_ASSETS_ENV)
    if not raw:
        return None
    assets = Path(raw).expanduser()
    if not os.access(assets / "kube-apiserver", os.X_OK):
        raise BinariesError(
            f"{KUBEBUILDER_ASSETS_ENV}={raw}: no executable kube-apiserver there; point it at "
            "a setup-envtest folder (`setup-envtest use -p path`) or unset it"
        )
    return assets


def skew_problem(*, apiserver: str, controller_manager: str) -> str | None:
    """Why this controller-manager must not run with this API server, or None if it may.

    Kubernetes' version-skew policy: kube-controller-manager must not be newer than
    kube-apiserver and may be at most one minor version older.
    https://kubernetes.io/releases/version-skew-policy/#kube-controller-manager-kube-scheduler-and-cloud-controller-manager
    """
    server = check_semver(release_of(apiserver), what="kube-apiserver version")
    manager = check_semver(release_of(controller_manager), what="kube-controller-manager version")
    if manager[:2] > server[:2] or (manager[:2] == server[:2] and manager > server):
        return (
            f"kube-controller-manager {controller_manager} is newer than kube-apiserver {apiserver}"
        )
    if manager[0] != server[0] or server[1] - manager[1] > 1:
        return (
            f"kube-controller-manager {controller_manager} is more than one minor version "
            f"older than kube-apiserver {apiserver}"
        )
    return None


def release_of(version: str) -> str:
    """vX.Y.Z of a version that may carry a suffix (v1.33.0-rc.1, v1.33.0+k3s1)."""
    match = re.match(r"v\d+\.\d+\.\d+", version)
    return match.group(0) if match else version


def usable_assets(
    assets: Path, *, commands: tuple[str, ...], say: Progress
) -> tuple[str, dict[str, Path]]:
    """The version of the kube-apiserver in `assets` and the Kubernetes binaries there that
    may run with it: a controller-manager that the version-skew policy forbids is left out."""
    apiserver = assets / "kube-apiserver"
    version = kubernetes_version_of(apiserver)
    apiserver = assets / "kube-apiserver"
    version = kubernetes_version_of(apiserver)
    found = {name: assets / name for name in commands if os.access(assets / name, os.X_OK)}
    controller_manager = found.get("kube-controller-manager")
    if controller_manager is not None:
        problem = skew_problem(
            apiserver=version, controller_manager=kubernetes_version_of(controller_manager)
        )
        if problem is not None:
            say(f"netiso: not using {controller_manager}: {problem}")
            del found["kube-controller-manager"]
    return version, found


def kubernetes_version_of(apiserver: Path) -> str:
    # Prints "Kubernetes v1.35.4".
    output = _run_version(apiserver)
    match = re.search(r"v\d+\.\d+\.\d+\S*", output)
    return match.group(0) if match else output.strip()


def etcd_version_of(etcd: Path) -> str:
    # Prints "etcd Version: 3.6.16" on its first line.
    output = _run_version(etcd)
    match = re.search(r"etcd Version:\s*(\S+)", output)
    return f"v{match.group(1)}" if match else output.strip()


def _run_version(binary: Path) -> str:
    result = subprocess.run(
        [str(binary), "--version"], capture_output=True, text=True, check=False, timeout=30
    )
    if result.returncode != 0:
        raise BinariesError(f"{binary} --version failed: {result.stderr.strip()}")
    return result.stdout
