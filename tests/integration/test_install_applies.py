"""Re-applying a dist/ file changes nothing, client-side or server-side, on a real server.

A GitOps tool or a cron job applies the same file again and again: every object must come back
unchanged (no write, the same resourceVersion), the switch from client-side to server-side apply
must need no `--force-conflicts`, and `kubectl diff --server-side` must be empty afterwards, so
no server-defaulted field shows as a permanent diff. Each file of dist/ in turn: install.yaml,
then the two components applied over it, monitoring.yaml (over stand-ins for the Prometheus
Operator's CRDs, ship_crds.py: the real CRDs' schema defaults are not exercised) and
enforcement-probe.yaml. The control plane is this module's own: the install's cluster-scoped
objects must not meet the session's other tests.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from netiso_devkit.localcluster.controlplane import ControlPlane

from .conftest import own_control_plane, plane_kubectl
from .ship_crds import prometheus_operator_crds

pytestmark = pytest.mark.integration

DIST = Path(__file__).resolve().parents[2] / "dist"
# In the order install.md applies them: the components go over the install.
FILES = ("install.yaml", "monitoring.yaml", "enforcement-probe.yaml")
# kubectl's three-way diff always patches a field whose patch strategy is `replace`, and
# PodDisruptionBudget's spec.selector is one: a client-side apply says `configured` for it
# although the PATCH changes nothing (its resourceVersion stays). Upstream, not ours:
# k8s.io/apimachinery/pkg/util/strategicpatch handleMapDiff.
ALWAYS_PATCHED = {"install.yaml": {"poddisruptionbudget.policy/netiso-operator"}}
NAMESPACE = "netiso-system"

Obj = dict[str, Any]


@dataclass(frozen=True)
class Applied:
    """One `kubectl apply`: its result and every installed object's resourceVersion after."""

    result: subprocess.CompletedProcess[str]
    versions: dict[str, str]


@pytest.fixture(scope="module")
def plane() -> Iterator[ControlPlane]:
    yield from own_control_plane(why="the install apply tests")


kubectl = plane_kubectl


def succeeded(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == 0, result.stderr


@pytest.fixture(scope="module", params=FILES)
def shipped(request: pytest.FixtureRequest, plane: ControlPlane) -> Path:
    """One file of dist/, with what it is applied over in place."""
    name: str = request.param
    if name != "install.yaml" and kubectl(plane, "get", "namespace", NAMESPACE).returncode:
        # Run alone (-k): the components' namespaced objects need the install's namespace.
        succeeded(kubectl(plane, "create", "namespace", NAMESPACE))
    if name == "monitoring.yaml":
        crds = prometheus_operator_crds()
        stdin = yaml.safe_dump_all(crds)
        succeeded(kubectl(plane, "apply", "--server-side", "-f", "-", stdin=stdin))
        names = [f"crd/{crd['metadata']['name']}" for crd in crds]
        succeeded(kubectl(plane, "wait", "--for=condition=Established", "--timeout=60s", *names))
    return DIST / name


def installed_objects(plane: ControlPlane, path: Path) -> list[Obj]:
    """Every object of the file as the server holds it."""
    result = kubectl(plane, "get", "-f", str(path), "-o", "json", "--show-managed-fields")
    assert result.returncode == 0, result.stderr
    answered = json.loads(result.stdout)
    items: list[Obj] = answered["items"] if answered.get("kind") == "List" else [answered]
    return items


def object_key(obj: Obj) -> str:
    metadata = obj["metadata"]
    return f"{obj['kind']}/{metadata.get('namespace', '')}/{metadata['name']}"


def apply(plane: ControlPlane, path: Path, *args: str) -> Applied:
    result = kubectl(plane, "apply", *args, "-f", str(path))
    assert result.returncode == 0, result.stderr
    assert "Warning" not in result.stderr, result.stderr
    versions = {
        object_key(obj): obj["metadata"]["resourceVersion"]
        for obj in installed_objects(plane, path)
    }
    return Applied(result=result, versions=versions)


def verdicts(result: subprocess.CompletedProcess[str], path: Path) -> dict[str, str]:
    """kubectl apply's `kind.group/name verdict` lines, by object."""
    found = dict(line.rsplit(" ", 1) for line in result.stdout.splitlines() if line.strip())
    objects = [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
    assert len(found) == len(objects), result.stdout
    return found


def managers(obj: Obj) -> set[tuple[str, str]]:
    return {(entry["manager"], entry["operation"]) for entry in obj["metadata"]["managedFields"]}


@pytest.fixture(scope="module")
def client_side(plane: ControlPlane, shipped: Path) -> tuple[Applied, Applied]:
    """The file applied client-side twice, the way the README's one-liner does."""
    first = apply(plane, shipped)
    return first, apply(plane, shipped)


@pytest.fixture(scope="module")
def switched(plane: ControlPlane, shipped: Path, client_side: tuple[Applied, Applied]) -> Applied:
    """Then the same file server-side, without --force-conflicts, as install.md says."""
    return apply(plane, shipped, "--server-side")


@pytest.fixture(scope="module")
def server_side_again(plane: ControlPlane, shipped: Path, switched: Applied) -> Applied:
    return apply(plane, shipped, "--server-side")


def test_second_client_side_apply_writes_nothing(
    shipped: Path, client_side: tuple[Applied, Applied]
) -> None:
    first, second = client_side
    assert set(verdicts(first.result, shipped).values()) == {"created"}
    changed = {
        name for name, verdict in verdicts(second.result, shipped).items() if verdict != "unchanged"
    }
    assert changed == ALWAYS_PATCHED.get(shipped.name, set()), second.result.stdout
    # Including the one kubectl calls `configured`: the server stored no change.
    assert second.versions == first.versions


def test_switch_to_server_side_apply_needs_no_force_and_moves_the_fields(
    plane: ControlPlane, shipped: Path, switched: Applied
) -> None:
    # apply() already asserted that it succeeded without conflicts.
    for obj in installed_objects(plane, shipped):
        owners = managers(obj)
        assert ("kubectl", "Apply") in owners, (object_key(obj), owners)
        # kubectl migrated the client-side manager's fields to its server-side one.
        assert not any(name == "kubectl-client-side-apply" for name, _ in owners), (
            object_key(obj),
            owners,
        )


def test_second_server_side_apply_writes_nothing(
    shipped: Path, switched: Applied, server_side_again: Applied
) -> None:
    assert set(verdicts(server_side_again.result, shipped).values()) == {"serverside-applied"}
    assert server_side_again.versions == switched.versions


def test_no_server_default_shows_as_a_diff(
    plane: ControlPlane, shipped: Path, server_side_again: Applied
) -> None:
    for mode in ("--server-side", "--server-side=false"):
        result = kubectl(plane, "diff", mode, "-f", str(shipped))
        # kubectl diff: 0 no differences, 1 differences, above 1 an error.
        assert (result.returncode, result.stdout) == (0, ""), f"{mode}\n{result.stdout}"
        assert result.stderr == "", result.stderr
