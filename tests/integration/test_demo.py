"""`netiso demo` cannot hurt a cluster it did not start.

A control plane of this module's own stands in for "a cluster someone configured" (the
session's plane carries other tests' profiles). The demo is run as users run it, with
KUBECONFIG pointing there: it shows the context and refuses without --yes when nobody can
answer, refuses outright where a netiso operator or a `baseline` profile exists, and otherwise
works under names of its own (profile and namespace `netiso-demo`).
"""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from netiso import conventions
from netiso_devkit.demo import crd_file, sample_file
from netiso_devkit.localcluster.controlplane import ControlPlane

from .conftest import own_control_plane, plane_kubectl

pytestmark = pytest.mark.integration

NETISO = str(Path(sys.executable).with_name("netiso"))


@pytest.fixture(scope="module")
def plane() -> Iterator[ControlPlane]:
    yield from own_control_plane(why="the demo tests")


kubectl = plane_kubectl


def demo(
    plane: ControlPlane, tmp_path: Path, *args: str, stdin: int = subprocess.DEVNULL
) -> subprocess.CompletedProcess[str]:
    """`netiso demo ARGS` with KUBECONFIG set to the plane, as a user would run it."""
    env = {
        **os.environ,
        "KUBECONFIG": str(plane.admin_kubeconfig),
        # The demo uses the user's kubectl: here, the plane's own.
        "PATH": f"{plane.binaries.kubectl.parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "TMPDIR": str(tmp_path),
    }
    return subprocess.run(
        [NETISO, "demo", *args],
        env=env,
        stdin=stdin,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def exists(plane: ControlPlane, *what: str) -> bool:
    result = kubectl(plane, "get", *what, "--ignore-not-found", "-o", "name")
    return bool(result.stdout.strip())


def assert_untouched(plane: ControlPlane) -> None:
    assert not exists(plane, "namespace", "netiso-demo")
    if exists(plane, "crd", conventions.CRD_NAME):
        assert not exists(plane, f"{conventions.PLURAL}.{conventions.GROUP}", "netiso-demo")


def context_of(plane: ControlPlane) -> str:
    view = json.loads(kubectl(plane, "config", "view", "--minify", "-o", "json").stdout)
    return str(view["current-context"])


def test_without_yes_and_without_a_terminal_it_shows_the_cluster_and_refuses(
    plane: ControlPlane, tmp_path: Path
) -> None:
    result = demo(plane, tmp_path, "--once")
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"context {context_of(plane)!r} (server {plane.server})" in result.stdout
    assert "stdin is not a terminal" in result.stderr
    assert "--yes" in result.stderr
    assert "Traceback" not in result.stderr
    assert not exists(plane, "crd", conventions.CRD_NAME), "the demo installed the CRD"
    assert_untouched(plane)


def test_a_no_at_the_prompt_refuses(plane: ControlPlane, tmp_path: Path) -> None:
    controller, terminal = pty.openpty()
    try:
        os.write(controller, b"n\n")
        result = demo(plane, tmp_path, "--once", stdin=terminal)
    finally:
        os.close(terminal)
        os.close(controller)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "[y/N]" in result.stdout
    assert "not confirmed" in result.stderr
    assert_untouched(plane)


def test_an_existing_baseline_profile_is_refused_even_with_yes(
    plane: ControlPlane, tmp_path: Path
) -> None:
    assert kubectl(plane, "apply", "--server-side", "-f", str(crd_file())).returncode == 0
    waited = kubectl(
        plane, "wait", "--for=condition=Established", f"crd/{conventions.CRD_NAME}", "--timeout=60s"
    )
    assert waited.returncode == 0, waited.stderr
    applied = kubectl(
        plane, "apply", "--server-side", "-f", str(sample_file("baseline")), "-o", "json"
    )
    assert applied.returncode == 0, applied.stderr
    before = json.loads(applied.stdout)["metadata"]["resourceVersion"]
    try:
        result = demo(plane, tmp_path, "--yes", "--once")
        assert result.returncode == 2, result.stdout + result.stderr
        assert "refusing to run the demo on context" in result.stderr
        assert "an IsolationProfile 'baseline'" in result.stderr
        profile = kubectl(plane, "get", "isolationprofiles", "baseline", "-o", "json")
        assert json.loads(profile.stdout)["metadata"]["resourceVersion"] == before
        assert_untouched(plane)
    finally:
        kubectl(plane, "delete", "isolationprofiles", "baseline", "--wait=false")


def test_an_installed_netiso_operator_is_refused_even_with_yes(
    plane: ControlPlane, tmp_path: Path
) -> None:
    namespace = "netiso-system-elsewhere"
    assert kubectl(plane, "create", "namespace", namespace).returncode == 0
    created = kubectl(
        plane,
        "create",
        "deployment",
        "netiso-operator",
        "-n",
        namespace,
        "--image=ghcr.io/netiso/netiso:0.1.0",
        "--replicas=0",
    )
    assert created.returncode == 0, created.stderr
    labelled = kubectl(
        plane,
        "label",
        "deployment",
        "netiso-operator",
        "-n",
        namespace,
        "app.kubernetes.io/name=netiso",
    )
    assert labelled.returncode == 0, labelled.stderr
    try:
        result = demo(plane, tmp_path, "--yes", "--once")
        assert result.returncode == 2, result.stdout + result.stderr
        assert "a netiso operator (deployment.apps/netiso-operator)" in result.stderr
        assert_untouched(plane)
    finally:
        # The Deployment first and waited for: a namespace is deleted in the background.
        kubectl(plane, "delete", "deployment", "netiso-operator", "-n", namespace, "--wait")
        kubectl(plane, "delete", "namespace", namespace, "--wait=false")


def test_with_yes_it_works_under_its_own_names(plane: ControlPlane, tmp_path: Path) -> None:
    result = demo(plane, tmp_path, "--yes", "--once")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "netiso isolated namespace 'netiso-demo' with profile 'netiso-demo'" in result.stdout
    # No node to run pods on: the triage reads the dev kit's own sample with the demo profile.
    lines = result.stdout.splitlines()
    assert (
        "DENIED: netiso-demo/client[Deployment] -> netiso-demo/web[Deployment] on 9090/TCP" in lines
    )
    assert (
        "ALLOWED: netiso-demo/client[Deployment] -> netiso-demo/web[Deployment] on 8080/TCP"
        in lines
    )
    assert "g1    g2  TCP 8080" in lines
    assert exists(plane, "isolationprofiles", "netiso-demo")
    assert not exists(plane, "isolationprofiles", "baseline"), "the demo created 'baseline'"
    labels = json.loads(kubectl(plane, "get", "namespace", "netiso-demo", "-o", "json").stdout)[
        "metadata"
    ]["labels"]
    assert labels[conventions.PROFILE_LABEL] == "netiso-demo"
