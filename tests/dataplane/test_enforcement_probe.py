"""The enforcement probe on real packets: `enforced` with the enforcer running, `not-enforced`
(the metric the NetisoIsolationNotEnforced alert fires on, the condition and a Warning Event)
with it stopped; `netiso probe` says the same with its exit codes; no probe pod is left.

The operator runs as users run it, with the shipped ClusterRole plus the enforcement-probe
component's (manifests/components/enforcement-probe).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from netiso.conventions import PROFILE_LABEL
from netiso.probing.podspecs import PROBE_LABEL
from netiso_devkit.dataplane.nodes import Dataplane
from netiso_devkit.harness import (
    GROUP,
    OPERATOR_USER,
    PLURAL,
    ROOT,
    VERSION,
    OperatorProcess,
    grant_operator_rbac,
    install_crd,
    operator_cluster_role,
    running_operator,
    wait_for,
)
from netiso_devkit.localcluster.controlplane import ControlPlane
from tests.dataplane.conftest import MakeNamespace, unique_name

PROBE_RBAC = ROOT / "manifests" / "components" / "enforcement-probe" / "rbac.yaml"
SOURCE_NAMESPACE = "netiso-system"
# A round on this node takes a few seconds; the bound leaves room for a loaded machine.
VERDICT_SECONDS = 120.0


def probe_rules() -> list[Any]:
    for doc in yaml.safe_load_all(PROBE_RBAC.read_text()):
        if doc and doc.get("kind") == "ClusterRole":
            return list(doc["rules"])
    raise AssertionError(f"no ClusterRole in {PROBE_RBAC}")


@pytest.fixture
def probed(
    control_plane: ControlPlane,
    dataplane: Dataplane,
    kube_api: client.ApiClient,
    make_namespace: MakeNamespace,
) -> Iterator[tuple[str, str]]:
    """A profile with the probe on (the kit's agnhost image) and one namespace opted in."""
    install_crd(kube_api)
    grant_operator_rbac(kube_api, rules=operator_cluster_role()["rules"] + probe_rules())
    core = client.CoreV1Api(kube_api)
    try:
        core.create_namespace({"metadata": {"name": SOURCE_NAMESPACE}})
    except ApiException as exc:
        if exc.status != 409:
            raise
    name = unique_name("probe")
    body = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "IsolationProfile",
        "metadata": {"name": name},
        "spec": {
            "onDelete": "Delete",
            "dns": {"enabled": False},
            "enforcementProbe": {
                "enabled": True,
                "intervalSeconds": 60,
                "image": Dataplane.agnhost_image_name(),
            },
        },
    }
    custom = client.CustomObjectsApi(kube_api)
    custom.create_cluster_custom_object(GROUP, VERSION, PLURAL, body)
    namespace = make_namespace("probed", labels={PROFILE_LABEL: name})
    try:
        yield name, namespace
    finally:
        custom.delete_cluster_custom_object(GROUP, VERSION, PLURAL, name)


def condition(kube_api: client.ApiClient, profile: str) -> dict[str, Any] | None:
    body = client.CustomObjectsApi(kube_api).get_cluster_custom_object(
        GROUP, VERSION, PLURAL, profile
    )
    for entry in (body.get("status") or {}).get("conditions") or []:
        if entry.get("type") == "Enforced":
            return dict(entry)
    return None


def probe_pods(kube_api: client.ApiClient) -> list[str]:
    pods = client.CoreV1Api(kube_api).list_pod_for_all_namespaces(label_selector=PROBE_LABEL)
    return [f"{p.metadata.namespace}/{p.metadata.name}" for p in pods.items]


def state_of(operator: OperatorProcess, profile: str) -> str | None:
    for state in ("enforced", "not-enforced", "inconclusive", "unavailable"):
        if operator.metric("netiso_enforcement", profile=profile, state=state) == 1:
            return state
    return None


def warning_reasons(kube_api: client.ApiClient, profile: str) -> list[str]:
    events = client.CoreV1Api(kube_api).list_namespaced_event(
        "default", field_selector=f"involvedObject.name={profile}"
    )
    return [e.reason for e in events.items if e.type == "Warning"]


def netiso_probe(plane: ControlPlane, profile: str) -> tuple[int, dict[str, Any]]:
    netiso = str(Path(sys.executable).with_name("netiso"))
    result = subprocess.run(
        [netiso, "probe", profile, "--image", Dataplane.agnhost_image_name(), "-o", "json",
         "--kubeconfig", str(plane.admin_kubeconfig)],
        capture_output=True, text=True, check=False, timeout=300,
    )  # fmt: skip
    assert result.stdout, result.stderr
    return result.returncode, json.loads(result.stdout)


def test_the_probe_says_enforced_and_not_enforced_as_the_packets_do(
    probed: tuple[str, str],
    control_plane: ControlPlane,
    dataplane: Dataplane,
    kube_api: client.ApiClient,
    tmp_path_factory: pytest.TempPathFactory,
    dataplane_report: list[str],
) -> None:
    profile, namespace = probed
    kubeconfig = control_plane.user_kubeconfig(OPERATOR_USER)
    logs = tmp_path_factory.mktemp("probe-operator")

    started = time.monotonic()
    with running_operator(kubeconfig=kubeconfig, log_path=logs / "enforced.log") as operator:
        wait_for(
            "the probe to say enforced",
            lambda: state_of(operator, profile) is not None,
            timeout=VERDICT_SECONDS,
        )
        assert state_of(operator, profile) == "enforced", operator.log()[-3000:]
        verdict_seconds = time.monotonic() - started
        wait_for(
            "the Enforced condition",
            lambda: (condition(kube_api, profile) or {}).get("status") == "True",
            timeout=30,
        )
        assert namespace in (condition(kube_api, profile) or {})["message"]
    wait_for("the probe pods to be deleted", lambda: not probe_pods(kube_api), timeout=60)

    code, printed = netiso_probe(control_plane, profile)
    assert (code, printed["state"]) == (0, "enforced"), printed
    dataplane_report.append(
        f"enforcement probe: enforced {verdict_seconds:.1f} s after the operator started; "
        f"netiso probe round {printed['seconds']} s (enforced)"
    )

    dataplane.stop_enforcer()
    try:
        code, printed = netiso_probe(control_plane, profile)
        assert (code, printed["state"]) == (1, "not-enforced"), printed
        dataplane_report.append(
            f"enforcement probe: netiso probe round {printed['seconds']} s (not-enforced, "
            "confirmed by a second source)"
        )
        # A new operator process runs a round at once (one per interval per process).
        with running_operator(kubeconfig=kubeconfig, log_path=logs / "stopped.log") as operator:
            wait_for(
                "the probe to say not-enforced",
                lambda: state_of(operator, profile) == "not-enforced",
                timeout=VERDICT_SECONDS,
            )
            wait_for(
                "the Enforced condition to turn False",
                lambda: (condition(kube_api, profile) or {}).get("reason") == "NotEnforced",
                timeout=30,
            )
            assert (condition(kube_api, profile) or {})["status"] == "False"
            wait_for(
                "a Warning Event on the profile",
                lambda: "NotEnforced" in warning_reasons(kube_api, profile),
                timeout=30,
            )
    finally:
        dataplane.start_enforcer()
    wait_for("the probe pods to be deleted", lambda: not probe_pods(kube_api), timeout=60)
