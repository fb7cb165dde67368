"""Every object `kubectl kustomize manifests/` renders is accepted by a real API server.

`kubectl apply --server-side --dry-run=server` runs each object through the API server's
defaulting, schema validation (strict field validation: unknown fields fail), admission and
server-side apply, and persists nothing. Two things a fresh cluster would differ in, set up
here on purpose:

- The ServiceMonitor and PrometheusRule kinds come from the Prometheus Operator, which the
  bare control plane lacks. Minimal CRDs for both are installed (served v1, schema
  `x-kubernetes-preserve-unknown-fields`), so these two objects are checked for kind, scope,
  metadata and apply mechanics, not for their spec: promtool checks the rules (tests/ship).
- A dry-run create of the Namespace is not persisted, so the namespaced objects after it
  would meet "namespace not found". The Namespace is therefore applied for real first, exactly
  as rendered; the dry run then covers it as an (empty) update.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from netiso.kits.localcluster.controlplane import ControlPlane

from .harness import ROOT

pytestmark = pytest.mark.integration

MANIFESTS = ROOT / "manifests"
# The Prometheus Operator's two kinds that manifests/ uses, at their real group, version,
# names and scope.
MONITORING_KINDS = (
    ("ServiceMonitor", "servicemonitors", "servicemonitor"),
    ("PrometheusRule", "prometheusrules", "prometheusrule"),
)
MONITORING_GROUP = "monitoring.coreos.com"

Obj = dict[str, Any]


def minimal_crd(*, kind: str, plural: str, singular: str) -> Obj:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{MONITORING_GROUP}"},
        "spec": {
            "group": MONITORING_GROUP,
            "scope": "Namespaced",
            "names": {"kind": kind, "plural": plural, "singular": singular},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "x-kubernetes-preserve-unknown-fields": True,
                        }
                    },
                }
            ],
        },
    }


def kubectl(
    plane: ControlPlane, *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """The control plane's own kubectl (same version as the API server) as the admin."""
    return subprocess.run(
        [str(plane.binaries.kubectl), f"--kubeconfig={plane.admin_kubeconfig}", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="module")
def rendered(control_plane: ControlPlane) -> str:
    """The kustomize output, as YAML text."""
    result = kubectl(control_plane, "kustomize", str(MANIFESTS))
    assert result.returncode == 0, f"kubectl kustomize manifests/ failed:\n{result.stderr}"
    return result.stdout


@pytest.fixture(scope="module")
def objects(rendered: str) -> list[Obj]:
    found = [doc for doc in yaml.safe_load_all(rendered) if doc]
    assert found, "kubectl kustomize manifests/ rendered nothing"
    return found


@pytest.fixture(scope="module")
def monitoring_crds(control_plane: ControlPlane) -> Iterator[None]:
    """Minimal ServiceMonitor and PrometheusRule CRDs, Established; deleted afterwards."""
    crds = [
        minimal_crd(kind=kind, plural=plural, singular=singular)
        for kind, plural, singular in MONITORING_KINDS
    ]
    names = [f"crd/{crd['metadata']['name']}" for crd in crds]
    result = kubectl(
        control_plane, "apply", "--server-side", "-f", "-", stdin=yaml.safe_dump_all(crds)
    )
    assert result.returncode == 0, result.stderr
    result = kubectl(control_plane, "wait", "--for=condition=Established", "--timeout=60s", *names)
    assert result.returncode == 0, result.stderr
    yield
    kubectl(control_plane, "delete", "--wait=false", *names)


@pytest.fixture(scope="module")
def operator_namespace(control_plane: ControlPlane, objects: list[Obj]) -> str:
    """The rendered Namespace, applied for real (see the module docstring)."""
    namespaces = [obj for obj in objects if obj["kind"] == "Namespace"]
    assert len(namespaces) == 1, [obj["metadata"]["name"] for obj in namespaces]
    result = kubectl(
        control_plane, "apply", "--server-side", "-f", "-", stdin=yaml.safe_dump(namespaces[0])
    )
    assert result.returncode == 0, result.stderr
    return str(namespaces[0]["metadata"]["name"])


def identity(obj: Obj) -> tuple[str, str, str]:
    """(kind, namespace, name) of an object."""
    metadata = obj["metadata"]
    return obj["kind"], metadata.get("namespace", ""), metadata["name"]


def test_every_rendered_object_applies_with_server_side_dry_run(
    control_plane: ControlPlane,
    rendered: str,
    objects: list[Obj],
    monitoring_crds: None,
    operator_namespace: str,
) -> None:
    result = kubectl(
        control_plane,
        "apply",
        "--server-side",
        "--dry-run=server",
        "--validate=strict",
        "-o",
        "json",
        "-f",
        "-",
        stdin=rendered,
    )
    assert result.returncode == 0, f"dry-run apply failed:\n{result.stderr}"
    # Warnings are what a real install would print too: deprecated APIs, Pod Security
    # violations of the restricted namespace, unknown fields dropped.
    assert "Warning" not in result.stderr, result.stderr
    answered = json.loads(result.stdout)
    items = answered["items"] if answered.get("kind") == "List" else [answered]
    assert sorted(identity(obj) for obj in items) == sorted(identity(obj) for obj in objects)
    for obj in items:
        assert obj["metadata"].get("uid"), f"{identity(obj)}: not processed by the server"


def test_dry_run_persisted_nothing_but_the_namespace(
    control_plane: ControlPlane, objects: list[Obj], monitoring_crds: None, operator_namespace: str
) -> None:
    # Not the Namespace (applied for real) nor the CRD (the session's other tests install it).
    skipped = {"Namespace", "CustomResourceDefinition"}
    for kind in sorted({obj["kind"] for obj in objects} - skipped):
        rendered_names = [identity(obj)[2] for obj in objects if obj["kind"] == kind]
        result = kubectl(
            control_plane, "get", kind, "--all-namespaces", "--ignore-not-found", "-o", "name"
        )
        assert result.returncode == 0, result.stderr
        names = {line.split("/", 1)[1] for line in result.stdout.split()}
        assert not names & set(rendered_names), f"{kind}: {sorted(names)}"


def test_operator_pod_is_admitted_under_pod_security_restricted(
    control_plane: ControlPlane, objects: list[Obj], operator_namespace: str
) -> None:
    """The Deployment's pod template, as a Pod, passes the namespace's enforced
    `restricted` Pod Security level (Deployments only get warnings; Pods are refused)."""
    (deployment,) = [obj for obj in objects if obj["kind"] == "Deployment"]
    result = kubectl(control_plane, "get", "namespace", operator_namespace, "-o", "json")
    assert result.returncode == 0, result.stderr
    labels = json.loads(result.stdout)["metadata"].get("labels") or {}
    assert labels.get("pod-security.kubernetes.io/enforce") == "restricted", labels
    template = deployment["spec"]["template"]
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "netiso-operator-pod-security-check",
            "namespace": operator_namespace,
            "labels": template["metadata"]["labels"],
        },
        "spec": template["spec"],
    }
    result = kubectl(
        control_plane,
        "create",
        "--dry-run=server",
        "--validate=strict",
        "-f",
        "-",
        stdin=yaml.safe_dump(pod),
    )
    assert result.returncode == 0, result.stderr
    assert "Warning" not in result.stderr, result.stderr
