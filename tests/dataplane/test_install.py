"""netiso installed as users install it, on the kit's node: the image built here (buildah, the
kit's Debian base) imported into the node's containerd, `dist/install.yaml` applied server-side.

Two replicas turn Ready, one holds the Lease, the operator writes as its own ServiceAccount
through the `kubernetes` Service (the kit translates its ClusterIP, apiforwarding.py), a tenant
namespace is isolated on packets, the operator's own NetworkPolicy admits a scrape from
Prometheus and nothing else, a rolling upgrade to a second tag keeps one leader and the tenant
isolated at every poll, and the uninstall leaves only what docs/install.md lists.

The kit is one node without the ServiceAccount admission plugin, so two things are laid over
the shipped Deployment and nothing else (ONE_NODE_OVERLAY): the replicas' anti-affinity is
preferred instead of required, and the token volume that plugin would add is written out.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import json
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

import pytest
import yaml
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from netiso.conventions import MANAGED_BY_LABEL, MANAGED_BY_VALUE, OPERATOR_USER, PROFILE_LABEL
from netiso_devkit.dataplane.images import ctr_binary, import_archive
from netiso_devkit.dataplane.nodes import Dataplane
from netiso_devkit.dataplane.probing import Target
from netiso_devkit.harness import GROUP, PLURAL, VERSION, install_crd, wait_for
from netiso_devkit.localcluster.binaries import cache_dir, ensure_binaries
from netiso_devkit.localcluster.controlplane import ControlPlane
from netiso_devkit.operatorimage.building import OperatorImage, ensure_image, export_archive
from tests.dataplane.conftest import MakeNamespace, unique_name
from tests.dataplane.test_profiles import ensure_namespace
from tests.dataplane.traffic import Scene, ScenePod, start_scene
from tests.integration.conftest import profile_body
from tests.prerequisites import unavailable

REPO: Final = Path(__file__).resolve().parents[2]
SYSTEM: Final = "netiso-system"
DEPLOYMENT: Final = "netiso-operator"
LEASE: Final = "netiso-operator"
POD_SELECTOR: Final = "app.kubernetes.io/name=netiso,app.kubernetes.io/component=operator"
MANAGED: Final = f"{MANAGED_BY_LABEL}={MANAGED_BY_VALUE}"
PART_OF: Final = "app.kubernetes.io/part-of=netiso"
# What the ServiceAccount admission plugin adds to a pod that mounts its token.
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
SERVED_PORT: Final = 8080


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@pytest.fixture(scope="session")
def operator_archive() -> tuple[OperatorImage, Path]:
    """The image built from this tree, and its archive. Session-scoped so that pytest makes it
    before the session's node, which is one per machine and held briefly."""
    if shutil.which("buildah") is None:
        unavailable("buildah is not installed (.ci/install-system-deps.sh)")
    image = ensure_image(progress=_say)
    return image, export_archive(image, cache=cache_dir())


@pytest.fixture(scope="module")
def operator_image(
    operator_archive: tuple[OperatorImage, Path], dataplane: Dataplane
) -> tuple[str, str]:
    """The image imported into the node as the manifests name it and under a second tag for
    the upgrade: (first, second)."""
    image, archive = operator_archive
    socket = dataplane.paths.containerd_socket
    import_archive(archive, ctr=ctr_binary(), address=socket)
    second = f"{image.reference}-next"
    ctr = [ctr_binary(), "--address", str(socket), "-n", "k8s.io", "images"]
    subprocess.run([*ctr, "tag", "--force", image.reference, second], check=True, timeout=60)
    return image.reference, second


def one_node_install(image: str) -> list[dict[str, Any]]:
    """dist/install.yaml with the ONE_NODE_OVERLAY (module docstring) and `image`."""
    objects = [doc for doc in yaml.safe_load_all((REPO / "dist/install.yaml").read_text()) if doc]
    for obj in objects:
        if obj["kind"] != "Deployment":
            continue
        spec = obj["spec"]["template"]["spec"]
        anti = spec["affinity"]["podAntiAffinity"]
        terms = anti.pop("requiredDuringSchedulingIgnoredDuringExecution")
        anti["preferredDuringSchedulingIgnoredDuringExecution"] = [
            {"weight": 100, "podAffinityTerm": term} for term in terms
        ]
        spec["volumes"].append(copy.deepcopy(TOKEN_VOLUME))
        (container,) = spec["containers"]
        container["volumeMounts"].append(dict(TOKEN_MOUNT))
        container["image"] = image
    return objects


def kubectl(plane: ControlPlane, *args: str, stdin: str | None = None) -> str:
    result = subprocess.run(
        [str(ensure_binaries().kubectl), f"--kubeconfig={plane.admin_kubeconfig}", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, f"kubectl {' '.join(args)}: {result.stderr}"
    return result.stdout


def apply_install(plane: ControlPlane, image: str) -> None:
    # --force-conflicts: the tier's other modules created the CRD with another field manager.
    text = yaml.safe_dump_all(one_node_install(image))
    kubectl(plane, "apply", "--server-side", "--force-conflicts", "-f", "-", stdin=text)


def operator_pods(core: client.CoreV1Api) -> list[Any]:
    pods = core.list_namespaced_pod(SYSTEM, label_selector=POD_SELECTOR).items
    return [pod for pod in pods if pod.metadata.deletion_timestamp is None]


def ready(pod: Any) -> bool:
    return any(c.type == "Ready" and c.status == "True" for c in pod.status.conditions or [])


def rolled_out(apps: client.AppsV1Api, core: client.CoreV1Api, image: str) -> bool:
    deployment = apps.read_namespaced_deployment(DEPLOYMENT, SYSTEM)
    status = deployment.status
    pods = core.list_namespaced_pod(SYSTEM, label_selector=POD_SELECTOR).items
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


def scrape(dataplane: Dataplane, source: ScenePod, address: str) -> str:
    """GET /metrics on `address` from inside `source`'s network namespace (a Prometheus)."""
    pid = dataplane.sandbox_pid(source.namespace, source.name)
    code = (
        "import urllib.request,sys;"
        f"sys.stdout.write(urllib.request.urlopen('http://{address}:{SERVED_PORT}/metrics',"
        "timeout=5).read().decode())"
    )
    result = subprocess.run(
        ["nsenter", "-n", "-t", str(pid), sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def reaches(dataplane: Dataplane, source: ScenePod, address: str, port: int) -> bool:
    (outcome,) = dataplane.probe(source.namespace, source.name, [Target(address, port)])
    return outcome.result == "connected"


def written_by(plane: ControlPlane, namespace: str) -> set[str]:
    """Who created NetworkPolicies in `namespace`, from the API server's audit log."""
    users: set[str] = set()
    for line in plane.audit_log.read_text().splitlines():
        event = json.loads(line)
        ref = event.get("objectRef", {})
        if (
            ref.get("resource") == "networkpolicies"
            and ref.get("namespace") == namespace
            and event.get("verb") == "create"
            and event.get("stage") == "ResponseComplete"
            and event.get("responseStatus", {}).get("code") == 201
        ):
            users.add(event["user"]["username"])
    return users


@pytest.fixture(scope="module")
def installed(
    control_plane: ControlPlane,
    dataplane: Dataplane,
    kube_api: client.ApiClient,
    operator_image: tuple[str, str],
) -> Iterator[None]:
    """The install, as docs/install.md says: the namespace and signing key, then the file."""
    core = client.CoreV1Api(kube_api)
    # The tier's host-run operators may have made the namespace already (for their Lease).
    with contextlib.suppress(ApiException):
        core.create_namespace({"metadata": {"name": SYSTEM}})
    core.create_namespaced_secret(
        SYSTEM,
        {"metadata": {"name": "netiso-signing-key"}, "stringData": {"key": "k" * 32}},
    )
    core.create_namespaced_config_map(
        SYSTEM,
        {
            "metadata": {"name": "kube-root-ca.crt"},
            "data": {"ca.crt": control_plane.ca_certificate.read_text()},
        },
    )
    try:
        apply_install(control_plane, operator_image[0])
        yield
    finally:
        # Whatever a failed test left: the install and its documented leftovers, then the
        # CRD again for the tier's other modules.
        with contextlib.suppress(AssertionError):
            kubectl(control_plane, "delete", "--ignore-not-found", "--wait=true", "-f", "-",
                    stdin=yaml.safe_dump_all(one_node_install(operator_image[0])))  # fmt: skip
        with contextlib.suppress(AssertionError):
            kubectl(control_plane, "delete", "validatingadmissionpolicybinding",
                    "--ignore-not-found", "-l", PART_OF)  # fmt: skip
        install_crd(kube_api)


def test_install_yaml_runs_two_replicas_one_leader_isolating_on_packets(
    operator_archive: tuple[OperatorImage, Path],
    control_plane: ControlPlane,
    dataplane: Dataplane,
    kube_api: client.ApiClient,
    make_namespace: MakeNamespace,
    installed: None,
    operator_image: tuple[str, str],
    dataplane_report: list[str],
) -> None:
    core = client.CoreV1Api(kube_api)
    apps = client.AppsV1Api(kube_api)
    started = time.monotonic()
    wait_for(
        "two operator replicas Ready",
        lambda: rolled_out(apps, core, operator_image[0]),
        timeout=300,
        interval=1.0,
    )
    ready_after = time.monotonic() - started
    names = {pod.metadata.name for pod in operator_pods(core)}
    wait_for("a leader", lambda: lease_holder(kube_api) in names, timeout=60, interval=0.5)
    # The admission keeper made the baseline's binding (no manifest ships it).
    admission = client.AdmissionregistrationV1Api(kube_api)
    wait_for(
        "the keeper's baseline binding",
        lambda: bool(
            admission.list_validating_admission_policy_binding(
                field_selector="metadata.name=netiso-guardrails-baseline"
            ).items
        ),
        timeout=60,
    )

    tenant, outside = make_namespace("tenant"), make_namespace("outside")
    ensure_namespace(kube_api, "monitoring")
    workload = ScenePod(tenant, "workload", {"app": "workload"})
    stranger = ScenePod(outside, "stranger", {"app": "stranger"})
    prometheus = ScenePod(
        "monitoring", unique_name("prometheus"), {"app.kubernetes.io/name": "prometheus"}
    )
    scene = Scene(pods=[workload, stranger, prometheus], tcp_ports=(SERVED_PORT,), udp_port=53)
    start_scene(dataplane, scene)
    target = scene.addresses[workload.key]
    assert reaches(dataplane, stranger, target, SERVED_PORT), "known open before isolation"

    profile = unique_name("install")
    custom = client.CustomObjectsApi(kube_api)
    custom.create_cluster_custom_object(GROUP, VERSION, PLURAL, profile_body(profile))
    try:
        core.patch_namespace(tenant, {"metadata": {"labels": {PROFILE_LABEL: profile}}})
        wait_for(
            "the tenant isolated on packets",
            lambda: not reaches(dataplane, stranger, target, SERVED_PORT),
            timeout=90,
            interval=0.5,
        )
        assert written_by(control_plane, tenant) == {OPERATOR_USER}

        # The operator's own policy: Prometheus scrapes, a stranger cannot connect.
        pods = operator_pods(core)
        leader = lease_holder(kube_api)
        leading = 0
        for pod in pods:
            address: str = pod.status.pod_ip
            wait_for(
                "the scrape admitted",
                functools.partial(reaches, dataplane, prometheus, address, SERVED_PORT),
                timeout=30,
                interval=0.5,
            )
            assert not reaches(dataplane, stranger, address, SERVED_PORT)
            body = scrape(dataplane, prometheus, address)
            says_leader = re.search(r"^netiso_leader(\{[^}]*\})? 1(\.0)?$", body, re.M)
            leading += says_leader is not None
            assert (says_leader is not None) == (pod.metadata.name == leader), body
            if pod.metadata.name == leader:
                isolated = [
                    line
                    for line in body.splitlines()
                    if line.startswith("netiso_namespaces{")
                    and f'profile="{profile}"' in line
                    and 'state="isolated"' in line
                ]
                assert [line.rsplit(" ", 1)[1] for line in isolated] == ["1.0"], body
        assert leading == 1

        # Rolling upgrade to the second tag, polled throughout.
        polls = leaderless = 0
        holders: set[str] = set()
        last_leader = time.monotonic()
        longest_gap = 0.0
        apply_install(control_plane, operator_image[1])
        deadline = time.monotonic() + 300
        while not rolled_out(apps, core, operator_image[1]):
            assert time.monotonic() < deadline, "the rolling upgrade did not finish in 300 s"
            polls += 1
            holder = lease_holder(kube_api)
            now = time.monotonic()
            if holder is None:
                leaderless += 1
                longest_gap = max(longest_gap, now - last_leader)
            else:
                holders.add(holder)
                last_leader = now
            managed = client.NetworkingV1Api(kube_api).list_namespaced_network_policy(
                tenant, label_selector=MANAGED
            )
            assert managed.items, f"poll {polls}: the tenant lost its policies"
            assert not reaches(dataplane, stranger, target, SERVED_PORT), (
                f"poll {polls}: the tenant was reachable during the upgrade"
            )
            time.sleep(0.5)
        final = {pod.metadata.name for pod in operator_pods(core)}
        wait_for("a new leader", lambda: lease_holder(kube_api) in final, timeout=60)
        assert longest_gap < 15, f"no leader for {longest_gap:.1f} s (lease duration 15 s)"
        assert not reaches(dataplane, stranger, target, SERVED_PORT)
        dataplane_report.append(
            f"install.yaml: 2 replicas Ready in {ready_after:.0f} s; rolling upgrade polled "
            f"{polls} times, tenant isolated at every poll, {len(holders)} successive leaders, "
            f"longest gap without one {longest_gap:.1f} s"
        )
    finally:
        with contextlib.suppress(ApiException):
            custom.delete_cluster_custom_object(GROUP, VERSION, PLURAL, profile)

    # Uninstall as documented: profiles first (while the operator runs), then the file.
    def profiles() -> set[str]:
        listed = custom.list_cluster_custom_object(GROUP, VERSION, PLURAL)["items"]
        return {item["metadata"]["name"] for item in listed}

    wait_for("the profile gone", lambda: profile not in profiles(), timeout=60)
    core.delete_namespaced_pod(prometheus.name, "monitoring", grace_period_seconds=0)
    text = yaml.safe_dump_all(one_node_install(operator_image[1]))
    kubectl(control_plane, "delete", "--wait=true", "-f", "-", stdin=text)
    left = kubectl(
        control_plane, "get", "validatingadmissionpolicies,validatingadmissionpolicybindings",
        "-l", PART_OF, "-o", "name",
    ).split()  # fmt: skip
    # docs/install.md: the baseline's binding (always), the orphaned policies (onDelete Orphan).
    assert left == ["validatingadmissionpolicybinding.admissionregistration.k8s.io/"
                    "netiso-guardrails-baseline"], left  # fmt: skip
    kubectl(control_plane, "delete", "validatingadmissionpolicybinding",
            "netiso-guardrails-baseline")  # fmt: skip
    kubectl(control_plane, "delete", "networkpolicy", "-A", "-l", MANAGED)
    assert not kubectl(control_plane, "get", "networkpolicy", "-A", "-l", MANAGED, "-o", "name")
    assert not kubectl(
        control_plane, "get", "crd", "--ignore-not-found", "isolationprofiles.netiso.io"
    ).strip()
    wait_for(
        "netiso-system gone (with its Lease)",
        lambda: SYSTEM not in {ns.metadata.name for ns in core.list_namespace().items},
        timeout=120,
    )
