"""What the in-cluster install tests share: the kit's prerequisites, the operator running, a
tenant isolated on packets, the rolling-upgrade watch and the admission leftovers.

test_install.py (dist/install.yaml with kubectl) and test_install_helm.py (the chart with helm)
install the same operator two ways; what they check of it once it runs is written once here.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

import yaml
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from netiso.conventions import MANAGED_BY_LABEL, MANAGED_BY_VALUE, OPERATOR_USER, PROFILE_LABEL
from netiso_devkit.dataplane.nodes import Dataplane
from netiso_devkit.dataplane.probing import Target
from netiso_devkit.harness import GROUP, PLURAL, VERSION, wait_for
from netiso_devkit.localcluster.binaries import ensure_binaries
from netiso_devkit.localcluster.controlplane import ControlPlane
from tests.dataplane.conftest import MakeNamespace, unique_name
from tests.dataplane.traffic import Scene, ScenePod, start_scene
from tests.integration.conftest import profile_body

SYSTEM: Final = "netiso-system"
DEPLOYMENT: Final = "netiso-operator"
LEASE: Final = "netiso-operator"
BASELINE_BINDING: Final = "netiso-guardrails-baseline"
POD_SELECTOR: Final = "app.kubernetes.io/name=netiso,app.kubernetes.io/component=operator"
MANAGED: Final = f"{MANAGED_BY_LABEL}={MANAGED_BY_VALUE}"
PART_OF: Final = "app.kubernetes.io/part-of=netiso"
SERVED_PORT: Final = 8080
# What the ServiceAccount admission plugin adds to a pod that mounts its token; the kit's API
# server runs without that plugin.
TOKEN_VOLUME: Final = yaml.safe_load("""
name: kube-api-access
projected:
  defaultMode: 0444
  sources:
    - serviceAccountToken: {expirationSeconds: 3607, path: token}
    - configMap: {name: kube-root-ca.crt, items: [{key: ca.crt, path: ca.crt}]}
    - downwardAPI:
        items: [{path: namespace, fieldRef: {apiVersion: v1, fieldPath: metadata.namespace}}]
""")
TOKEN_MOUNT: Final = {
    "name": "kube-api-access",
    "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount",
    "readOnly": True,
}
# The kit's controller manager publishes no kube-root-ca.crt (a real cluster's does, in every
# namespace): the install tests write it, and it is not an install leftover.
ROOT_CA: Final = "kube-root-ca.crt"


def succeeding(command: Sequence[str], *, stdin: str | None = None) -> str:
    """Run `command`; assert it succeeded and return its output."""
    result = subprocess.run(
        command, input=stdin, capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, f"{' '.join(command)}: {result.stdout}{result.stderr}"
    return result.stdout


def kubectl(plane: ControlPlane, *args: str, stdin: str | None = None) -> str:
    """The plane's kubectl as its admin; asserts it succeeded and returns its output."""
    kubeconfig = f"--kubeconfig={plane.admin_kubeconfig}"
    return succeeding([str(ensure_binaries().kubectl), kubeconfig, *args], stdin=stdin)


def prepare_namespace(plane: ControlPlane, api: client.ApiClient) -> None:
    """The operator's namespace with its signing key (docs/install.md), and the root CA."""
    core = client.CoreV1Api(api)
    # The tier's host-run operators may have made the namespace already (for their Lease).
    with contextlib.suppress(ApiException):
        core.create_namespace({"metadata": {"name": SYSTEM}})
    core.create_namespaced_secret(
        SYSTEM,
        {"metadata": {"name": "netiso-signing-key"}, "stringData": {"key": "k" * 32}},
    )
    core.create_namespaced_config_map(
        SYSTEM,
        {"metadata": {"name": ROOT_CA}, "data": {"ca.crt": plane.ca_certificate.read_text()}},
    )


def operator_pods(core: client.CoreV1Api) -> list[Any]:
    pods = core.list_namespaced_pod(SYSTEM, label_selector=POD_SELECTOR).items
    return [pod for pod in pods if pod.metadata.deletion_timestamp is None]


def ready(pod: Any) -> bool:
    return any(c.type == "Ready" and c.status == "True" for c in pod.status.conditions or [])


def rolled_out(api: client.ApiClient, image: str) -> bool:
    """The Deployment's two replicas all run `image`, Ready, and no other pod is left."""
    deployment = client.AppsV1Api(api).read_namespaced_deployment(DEPLOYMENT, SYSTEM)
    status = deployment.status
    pods = client.CoreV1Api(api).list_namespaced_pod(SYSTEM, label_selector=POD_SELECTOR).items
    return (
        (status.observed_generation or 0) >= deployment.metadata.generation
        and status.replicas == 2
        and status.updated_replicas == 2
        and status.ready_replicas == 2
        and len(pods) == 2
        and all(ready(pod) and pod.spec.containers[0].image == image for pod in pods)
    )


def lease_holder(api: client.ApiClient) -> str | None:
    lease = client.CoordinationV1Api(api).read_namespaced_lease(LEASE, SYSTEM)
    holder: str | None = lease.spec.holder_identity or None
    return holder


def reaches(dataplane: Dataplane, source: ScenePod, address: str, port: int) -> bool:
    (outcome,) = dataplane.probe(source.namespace, source.name, [Target(address, port)])
    return outcome.result == "connected"


def audit_mark(plane: ControlPlane) -> int:
    """Where the audit log ends now: `created_by(since=...)` reads only what follows."""
    return len(plane.audit_log.read_text().splitlines())


def created_by(
    plane: ControlPlane,
    *,
    resource: str,
    namespace: str | None = None,
    name: str | None = None,
    since: int = 0,
) -> set[str]:
    """Who created `resource` objects (in `namespace`, named `name`, if given), from the
    audit log's lines from `since` on."""
    users: set[str] = set()
    for line in plane.audit_log.read_text().splitlines()[since:]:
        event = json.loads(line)
        ref = event.get("objectRef", {})
        if (
            ref.get("resource") == resource
            and (namespace is None or ref.get("namespace") == namespace)
            and (name is None or ref.get("name") == name)
            and event.get("verb") == "create"
            and event.get("stage") == "ResponseComplete"
            and event.get("responseStatus", {}).get("code") == 201
        ):
            users.add(event["user"]["username"])
    return users


def wait_running(api: client.ApiClient, *, image: str) -> float:
    """Wait for two Ready replicas of `image`, a leader among them, and the admission keeper's
    baseline binding (no manifest ships it); returns the seconds until both were Ready."""
    started = time.monotonic()
    wait_for("two operator replicas Ready", lambda: rolled_out(api, image), timeout=300,
             interval=1.0)  # fmt: skip
    ready_after = time.monotonic() - started
    names = {pod.metadata.name for pod in operator_pods(client.CoreV1Api(api))}
    wait_for("a leader", lambda: lease_holder(api) in names, timeout=60, interval=0.5)
    admission = client.AdmissionregistrationV1Api(api)
    wait_for(
        "the keeper's baseline binding",
        lambda: bool(
            admission.list_validating_admission_policy_binding(
                field_selector=f"metadata.name={BASELINE_BINDING}"
            ).items
        ),
        timeout=60,
    )
    return ready_after


@dataclass(frozen=True)
class Tenant:
    """An opted-in namespace with a workload, and a stranger outside that must not reach it."""

    namespace: str
    profile: str
    stranger: ScenePod
    target: str

    def reachable(self, dataplane: Dataplane) -> bool:
        return reaches(dataplane, self.stranger, self.target, SERVED_PORT)


def isolate_tenant(
    *,
    plane: ControlPlane,
    dataplane: Dataplane,
    api: client.ApiClient,
    make_namespace: MakeNamespace,
    also: Sequence[ScenePod] = (),
) -> Tenant:
    """A tenant reachable by the stranger, then opted in to a new profile until the packets say
    it is isolated; its policies were written by the operator's ServiceAccount. `also`: more
    pods to start in the same scene. The caller deletes the profile."""
    tenant, outside = make_namespace("tenant"), make_namespace("outside")
    workload = ScenePod(tenant, "workload", {"app": "workload"})
    stranger = ScenePod(outside, "stranger", {"app": "stranger"})
    scene = Scene(pods=[workload, stranger, *also], tcp_ports=(SERVED_PORT,), udp_port=53)
    start_scene(dataplane, scene)
    isolated = Tenant(tenant, unique_name("install"), stranger, scene.addresses[workload.key])
    assert isolated.reachable(dataplane), "known open before isolation"
    client.CustomObjectsApi(api).create_cluster_custom_object(
        GROUP, VERSION, PLURAL, profile_body(isolated.profile)
    )
    client.CoreV1Api(api).patch_namespace(
        tenant, {"metadata": {"labels": {PROFILE_LABEL: isolated.profile}}}
    )
    wait_for("the tenant isolated on packets", lambda: not isolated.reachable(dataplane),
             timeout=90, interval=0.5)  # fmt: skip
    assert created_by(plane, resource="networkpolicies", namespace=tenant) == {OPERATOR_USER}
    return isolated


def delete_profile(api: client.ApiClient, profile: str) -> None:
    """Delete the profile and wait until it is gone (the operator removes its finalizer)."""
    custom = client.CustomObjectsApi(api)
    with contextlib.suppress(ApiException):
        custom.delete_cluster_custom_object(GROUP, VERSION, PLURAL, profile)

    def profiles() -> set[str]:
        listed = custom.list_cluster_custom_object(GROUP, VERSION, PLURAL)["items"]
        return {item["metadata"]["name"] for item in listed}

    wait_for("the profile gone", lambda: profile not in profiles(), timeout=60)


@dataclass(frozen=True)
class Rollout:
    """What the polls of a rolling upgrade saw."""

    polls: int
    holders: frozenset[str]
    longest_gap: float

    def describe(self) -> str:
        return (
            f"rolling upgrade polled {self.polls} times, tenant isolated at every poll, "
            f"{len(self.holders)} successive leaders, longest gap without one "
            f"{self.longest_gap:.1f} s"
        )


def watch_rollout(
    *, api: client.ApiClient, dataplane: Dataplane, tenant: Tenant, image: str
) -> Rollout:
    """Poll every half second, from an upgrade's start until two Ready replicas run `image`:
    at every poll the tenant keeps its managed policies and the stranger cannot reach it. Then
    a leader among the new pods, no leaderless gap as long as the Lease duration, and the
    tenant still isolated."""
    polls = 0
    holders: set[str] = set()
    last_leader = time.monotonic()
    longest_gap = 0.0
    deadline = time.monotonic() + 300
    networking = client.NetworkingV1Api(api)
    while not rolled_out(api, image):
        assert time.monotonic() < deadline, "the rolling upgrade did not finish in 300 s"
        polls += 1
        holder = lease_holder(api)
        now = time.monotonic()
        if holder is None:
            longest_gap = max(longest_gap, now - last_leader)
        else:
            holders.add(holder)
            last_leader = now
        managed = networking.list_namespaced_network_policy(
            tenant.namespace, label_selector=MANAGED
        )
        assert managed.items, f"poll {polls}: the tenant lost its policies"
        assert not tenant.reachable(dataplane), (
            f"poll {polls}: the tenant was reachable during the upgrade"
        )
        time.sleep(0.5)
    final = {pod.metadata.name for pod in operator_pods(client.CoreV1Api(api))}
    wait_for("a new leader", lambda: lease_holder(api) in final, timeout=60)
    assert longest_gap < 15, f"no leader for {longest_gap:.1f} s (lease duration 15 s)"
    assert not tenant.reachable(dataplane)
    return Rollout(polls=polls, holders=frozenset(holders), longest_gap=longest_gap)


def admission_leftovers(plane: ControlPlane) -> list[str]:
    """The admission objects labelled part-of=netiso that are still there."""
    return kubectl(
        plane, "get", "validatingadmissionpolicies,validatingadmissionpolicybindings",
        "-l", PART_OF, "-o", "name",
    ).split()  # fmt: skip


BASELINE_LEFTOVER: Final = (
    f"validatingadmissionpolicybinding.admissionregistration.k8s.io/{BASELINE_BINDING}"
)
