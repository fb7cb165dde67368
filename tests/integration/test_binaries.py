"""KUBEBUILDER_ASSETS is used as given; only what it lacks comes from the cache or a build,
at the version of its kube-apiserver.

The assets are the real cached binaries, copied into a temporary folder shaped like
setup-envtest's (kube-apiserver, etcd, kubectl, and no kube-controller-manager). Every case
here finds its missing parts in the cache, so a build message would mean a wrong version.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from netiso_devkit.localcluster.assets import KUBEBUILDER_ASSETS_ENV
from netiso_devkit.localcluster.binaries import (
    Binaries,
    BinariesError,
    cache_dir,
    ensure_binaries,
)

ENVTEST_BINARIES = ("kube-apiserver", "etcd", "kubectl")


@pytest.fixture(scope="module")
def cached() -> Binaries:
    """The pinned binaries, built or cached (unaffected by KUBEBUILDER_ASSETS)."""
    return ensure_binaries()


@pytest.fixture
def assets(tmp_path: Path, cached: Binaries, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A setup-envtest-like folder of real binaries, named by KUBEBUILDER_ASSETS."""
    folder = tmp_path / "k8s" / f"{cached.kubernetes_version.lstrip('v')}-linux-amd64"
    folder.mkdir(parents=True)
    sources = {
        "kube-apiserver": cached.kube_apiserver,
        "etcd": cached.etcd,
        "kubectl": cached.kubectl,
    }
    for name in ENVTEST_BINARIES:
        shutil.copy2(sources[name], folder / name)
    monkeypatch.setenv(KUBEBUILDER_ASSETS_ENV, str(folder))
    return folder


def version_of(binary: Path) -> str:
    result = subprocess.run(
        [str(binary), "--version"], capture_output=True, text=True, timeout=30, check=True
    )
    return result.stdout.split()[-1]


def test_assets_are_used_and_only_the_controller_manager_comes_from_the_cache(
    assets: Path, cached: Binaries
) -> None:
    said: list[str] = []
    found = ensure_binaries(cache=cache_dir(), progress=said.append)
    assert found.kube_apiserver == assets / "kube-apiserver"
    assert found.etcd == assets / "etcd"
    assert found.kubectl == assets / "kubectl"
    assert found.kubernetes_source == "kubebuilder-assets"
    assert found.etcd_source == "kubebuilder-assets"
    # The missing one, at the API server's own version, without building anything.
    assert found.kube_controller_manager == cached.kube_controller_manager
    assert version_of(found.kube_controller_manager) == version_of(found.kube_apiserver)
    assert not [line for line in said if "building" in line or "compiling" in line], said
    assert any("lacks kube-controller-manager" in line for line in said), said


def test_a_controller_manager_in_the_assets_is_used_as_given(
    assets: Path, cached: Binaries
) -> None:
    shutil.copy2(cached.kube_controller_manager, assets / "kube-controller-manager")
    found = ensure_binaries(cache=cache_dir(), progress=lambda line: None)
    assert found.kube_controller_manager == assets / "kube-controller-manager"
    assert found.go_version is None, "nothing came from the cache"


def test_a_controller_manager_newer_than_the_api_server_is_not_used(
    assets: Path, cached: Binaries
) -> None:
    # Stands in for a newer build: only its --version answer matters to the skew check.
    newer = assets / "kube-controller-manager"
    newer.write_text("#!/bin/sh\necho 'Kubernetes v1.99.0'\n")
    newer.chmod(0o755)
    said: list[str] = []
    found = ensure_binaries(cache=cache_dir(), progress=said.append)
    assert found.kube_controller_manager == cached.kube_controller_manager
    assert any(
        f"not using {newer}" in line and "newer than kube-apiserver" in line for line in said
    ), said


def test_assets_without_an_api_server_are_an_error_naming_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(KUBEBUILDER_ASSETS_ENV, str(tmp_path))
    with pytest.raises(
        BinariesError, match=rf"^{KUBEBUILDER_ASSETS_ENV}=.*no executable kube-apiserver"
    ):
        ensure_binaries(cache=cache_dir(), progress=lambda line: None)
