"""`netiso validate` accepts exactly the profiles the API server accepts, on a corpus of edges.

Integration test against the real kube-apiserver with the CRD installed: each file of
tests/golden/profile-edges/ goes through `kubectl create --dry-run=server` (the user's path:
kubectl's YAML reading, the CRD schema and its CEL rules) and through `netiso validate`; both
must accept it or both refuse it.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from kubernetes import client

from netiso_devkit.harness import install_crd
from netiso_devkit.localcluster.controlplane import ControlPlane

CORPUS = sorted((Path(__file__).resolve().parents[1] / "golden" / "profile-edges").glob("*.yaml"))


@pytest.fixture(scope="module")
def crd(kube_api: client.ApiClient) -> None:
    install_crd(kube_api)


def test_the_corpus_holds_both_verdicts() -> None:
    assert len(CORPUS) >= 40


@pytest.mark.parametrize("path", CORPUS, ids=lambda path: path.stem)
def test_validate_and_the_api_server_agree(
    control_plane: ControlPlane, crd: None, path: Path
) -> None:
    server = subprocess.run(
        [
            str(control_plane.binaries.kubectl),
            f"--kubeconfig={control_plane.admin_kubeconfig}",
            "create",
            "--dry-run=server",
            "-o",
            "name",
            "-f",
            str(path),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    netiso = subprocess.run(
        [sys.executable, "-m", "netiso.cli.app", "validate", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert "Traceback" not in netiso.stderr
    assert netiso.returncode in (0, 1), netiso.stderr
    assert (server.returncode == 0) == (netiso.returncode == 0), (
        f"kubectl: {server.returncode} {server.stdout}{server.stderr}; "
        f"netiso: {netiso.returncode} {netiso.stdout}{netiso.stderr}"
    )
