"""Helm on a real API server: taking over a kubectl install, and the CRD on `helm upgrade`.

docs/install.md tells a user who installed with `kubectl apply -f dist/install.yaml` how to move
to the chart (Helm refuses objects it does not own), and that `helm upgrade` never updates the
IsolationProfile CRD (with the command that does). Both are run here as written, with helm
install and upgrade against a control plane of this module's own (no pods are needed: the
objects are what Helm manages).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from netiso_devkit.localcluster.controlplane import ControlPlane

from ..ship.conftest import built_helm
from .conftest import own_control_plane, plane_kubectl

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
INSTALL = REPO / "dist" / "install.yaml"
CHART = REPO / "charts" / "netiso"
CRD_FILE = CHART / "crds" / "isolationprofiles.netiso.io.yaml"
CRD = "customresourcedefinition/isolationprofiles.netiso.io"
NAMESPACE = "netiso-system"
RELEASE = "netiso"

Obj = dict[str, Any]
kubectl = plane_kubectl


@pytest.fixture(scope="module")
def plane() -> Iterator[ControlPlane]:
    yield from own_control_plane(why="the Helm tests")


@pytest.fixture(scope="module")
def helm_binary() -> str:
    return built_helm()


def helm(
    binary: str, plane: ControlPlane, *args: str, chart: Path = CHART
) -> subprocess.CompletedProcess[str]:
    """`helm ARGS RELEASE CHART` for install, upgrade and template, else `helm ARGS RELEASE`."""
    command = [binary, *args, RELEASE]
    if args[0] in ("install", "upgrade", "template"):
        command.append(str(chart))
    return subprocess.run(
        [*command, "--namespace", NAMESPACE, "--kubeconfig", str(plane.admin_kubeconfig)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def succeeded(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def install_objects() -> list[Obj]:
    return [doc for doc in yaml.safe_load_all(INSTALL.read_text()) if doc]


def live(plane: ControlPlane, *what: str) -> Obj:
    found: Obj = json.loads(succeeded(kubectl(plane, "get", *what, "-o", "json")))
    return found


# The README's client-side one-liner, and install.md's server-side apply.
@pytest.mark.parametrize("mode", ["--server-side=false", "--server-side"])
def test_helm_takes_over_a_kubectl_install_as_documented(
    plane: ControlPlane, helm_binary: str, mode: str
) -> None:
    succeeded(kubectl(plane, "apply", mode, "-f", str(INSTALL)))

    refused = helm(helm_binary, plane, "install")
    assert refused.returncode != 0
    assert "invalid ownership metadata" in refused.stderr, refused.stderr

    # docs/install.md#from-kubectl-to-helm, command for command.
    # --overwrite: an earlier attempt (or release) may have left the marks on some objects.
    marks = ("-f", str(INSTALL), "--overwrite")
    succeeded(kubectl(plane, "label", *marks, "app.kubernetes.io/managed-by=Helm"))
    succeeded(
        kubectl(
            plane,
            "annotate",
            *marks,
            f"meta.helm.sh/release-name={RELEASE}",
            f"meta.helm.sh/release-namespace={NAMESPACE}",
        )
    )
    succeeded(helm(helm_binary, plane, "install"))
    succeeded(helm(helm_binary, plane, "upgrade", "--reuse-values"))

    managed = yaml.safe_load_all(succeeded(helm(helm_binary, plane, "get", "manifest")))
    released = {(obj["kind"], obj["metadata"]["name"]) for obj in managed if obj}
    shipped = {
        (obj["kind"], obj["metadata"]["name"])
        for obj in install_objects()
        if obj["kind"] not in ("Namespace", "CustomResourceDefinition")
    }
    assert released == shipped
    deployment = live(plane, "-n", NAMESPACE, "deployment/netiso-operator")
    assert deployment["metadata"]["labels"]["helm.sh/chart"] == "netiso-0.1.0"
    assert deployment["metadata"]["annotations"]["meta.helm.sh/release-name"] == RELEASE

    succeeded(helm(helm_binary, plane, "uninstall", "--wait"))
    left = kubectl(plane, "get", "-f", str(INSTALL), "-o", "name", "--ignore-not-found")
    # What the install file holds and the release does not: the namespace and the CRD.
    assert sorted(left.stdout.split()) == [
        "customresourcedefinition.apiextensions.k8s.io/isolationprofiles.netiso.io",
        f"namespace/{NAMESPACE}",
    ], left.stdout


def older_chart(tmp_path: Path) -> Path:
    """A copy of the chart whose CRD lacks the printer columns, standing for a release
    whose CRD is older than the current one."""
    copy = tmp_path / "netiso"
    shutil.copytree(CHART, copy)
    crd = yaml.safe_load(CRD_FILE.read_text())
    for version in crd["spec"]["versions"]:
        del version["additionalPrinterColumns"]
    (copy / "crds" / CRD_FILE.name).write_text(yaml.safe_dump(crd))
    return copy


def printer_columns(crd: Obj) -> list[list[Obj]]:
    return [version.get("additionalPrinterColumns", []) for version in crd["spec"]["versions"]]


def test_helm_upgrade_keeps_the_crd_and_the_documented_command_updates_it(
    plane: ControlPlane, helm_binary: str, tmp_path: Path
) -> None:
    kubectl(plane, "delete", CRD, "--ignore-not-found", "--wait=true")
    succeeded(
        helm(helm_binary, plane, "install", "--create-namespace", chart=older_chart(tmp_path))
    )
    assert printer_columns(live(plane, CRD)) == [[]]

    succeeded(helm(helm_binary, plane, "upgrade", "--reuse-values"))
    # Helm never touches crds/ after the first install.
    assert printer_columns(live(plane, CRD)) == [[]]

    # docs/install.md#the-crd-on-upgrades: without --force-conflicts the fields Helm wrote
    # are another manager's.
    plain = kubectl(plane, "apply", "--server-side", "-f", str(CRD_FILE))
    assert plain.returncode != 0
    assert "conflict" in plain.stderr, plain.stderr
    assert '"helm"' in plain.stderr, plain.stderr
    succeeded(kubectl(plane, "apply", "--server-side", "--force-conflicts", "-f", str(CRD_FILE)))
    wanted = yaml.safe_load(CRD_FILE.read_text())
    assert printer_columns(live(plane, CRD)) == printer_columns(wanted)
    succeeded(helm(helm_binary, plane, "upgrade", "--reuse-values"))
    assert printer_columns(live(plane, CRD)) == printer_columns(wanted)

    # A GitOps tool that renders the chart itself sees no diff against what Helm installed.
    rendered = succeeded(helm(helm_binary, plane, "template", "--validate"))
    diff = plane_kubectl(plane, "diff", "--server-side", "-f", "-", stdin=rendered)
    assert (diff.returncode, diff.stdout, diff.stderr) == (0, "", "")
    succeeded(helm(helm_binary, plane, "uninstall", "--wait"))
