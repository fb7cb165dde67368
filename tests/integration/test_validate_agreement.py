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

from netiso.model.reasons import BLANK_REASON
from netiso_devkit.harness import install_crd
from netiso_devkit.localcluster.controlplane import ControlPlane

CORPUS = sorted((Path(__file__).resolve().parents[1] / "golden" / "profile-edges").glob("*.yaml"))


@pytest.fixture(scope="module")
def crd(kube_api: client.ApiClient) -> None:
    install_crd(kube_api)


def test_the_corpus_holds_both_verdicts() -> None:
    assert len(CORPUS) >= 40


def kubectl_create(plane: ControlPlane, path: Path) -> subprocess.CompletedProcess[str]:
    """`kubectl create --dry-run=server -f path`: the user's path to the CRD's checks."""
    return subprocess.run(
        [
            str(plane.binaries.kubectl),
            f"--kubeconfig={plane.admin_kubeconfig}",
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


def netiso_validate(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "netiso.cli.app", "validate", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("path", CORPUS, ids=lambda path: path.stem)
def test_validate_and_the_api_server_agree(
    control_plane: ControlPlane, crd: None, path: Path
) -> None:
    server = kubectl_create(control_plane, path)
    netiso = netiso_validate(path)
    assert "Traceback" not in netiso.stderr
    assert netiso.returncode in (0, 1), netiso.stderr
    assert (server.returncode == 0) == (netiso.returncode == 0), (
        f"kubectl: {server.returncode} {server.stdout}{server.stderr}; "
        f"netiso: {netiso.returncode} {netiso.stdout}{netiso.stderr}"
    )


BLANK_REASONS = sorted(path for path in CORPUS if path.stem.startswith("exception-reason-"))


@pytest.mark.parametrize(
    "path", [p for p in BLANK_REASONS if p.stem != "exception-reason-missing"], ids=lambda p: p.stem
)
def test_a_blank_or_invisible_exception_reason_gets_the_same_words_from_both(
    control_plane: ControlPlane, crd: None, path: Path
) -> None:
    server = kubectl_create(control_plane, path)
    netiso = netiso_validate(path)
    field = "spec.guardrails.exceptions[0].reason"
    assert server.returncode != 0
    assert netiso.returncode == 1
    assert f"{field}: Invalid value: " in server.stderr
    assert BLANK_REASON in server.stderr
    assert f"{field}: {BLANK_REASON}" in netiso.stdout + netiso.stderr
