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
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

import pytest
import yaml
from kubernetes import client

from netiso_devkit.dataplane.nodes import Dataplane
from netiso_devkit.harness import install_crd, wait_for
from netiso_devkit.localcluster.controlplane import ControlPlane
from tests.dataplane.conftest import MakeNamespace, unique_name
from tests.dataplane.installs import (
    BASELINE_BINDING,
    BASELINE_LEFTOVER,
    MANAGED,
    PART_OF,
    SERVED_PORT,
    SYSTEM,
    TOKEN_MOUNT,
    TOKEN_VOLUME,
    admission_leftovers,
    delete_profile,
    isolate_tenant,
    kubectl,
    lease_holder,
    operator_pods,
    prepare_namespace,
    reaches,
    wait_running,
    watch_rollout,
)
from tests.dataplane.test_profiles import ensure_namespace
from tests.dataplane.traffic import ScenePod

REPO: Final = Path(__file__).resolve().parents[2]


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


def apply_install(plane: ControlPlane, image: str) -> None:
    # --force-conflicts: the tier's other modules created the CRD with another field manager.
    text = yaml.safe_dump_all(one_node_install(image))
    kubectl(plane, "apply", "--server-side", "--force-conflicts", "-f", "-", stdin=text)


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


@pytest.fixture(scope="module")
def installed(
    control_plane: ControlPlane,
    dataplane: Dataplane,
    kube_api: client.ApiClient,
    operator_image: tuple[str, str],
) -> Iterator[None]:
    """The install, as docs/install.md says: the namespace and signing key, then the file."""
    prepare_namespace(control_plane, kube_api)
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
    control_plane: ControlPlane,
    dataplane: Dataplane,
    kube_api: client.ApiClient,
    make_namespace: MakeNamespace,
    installed: None,
    operator_image: tuple[str, str],
    dataplane_report: list[str],
) -> None:
    core = client.CoreV1Api(kube_api)
    ready_after = wait_running(kube_api, image=operator_image[0])
    ensure_namespace(kube_api, "monitoring")
    prometheus = ScenePod(
        "monitoring", unique_name("prometheus"), {"app.kubernetes.io/name": "prometheus"}
    )
    tenant = isolate_tenant(
        plane=control_plane,
        dataplane=dataplane,
        api=kube_api,
        make_namespace=make_namespace,
        also=[prometheus],
    )
    try:
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
            assert not reaches(dataplane, tenant.stranger, address, SERVED_PORT)
            body = scrape(dataplane, prometheus, address)
            says_leader = re.search(r"^netiso_leader(\{[^}]*\})? 1(\.0)?$", body, re.M)
            leading += says_leader is not None
            assert (says_leader is not None) == (pod.metadata.name == leader), body
            if pod.metadata.name == leader:
                isolated = [
                    line
                    for line in body.splitlines()
                    if line.startswith("netiso_namespaces{")
                    and f'profile="{tenant.profile}"' in line
                    and 'state="isolated"' in line
                ]
                assert [line.rsplit(" ", 1)[1] for line in isolated] == ["1.0"], body
        assert leading == 1

        # Rolling upgrade to the second tag, polled throughout.
        apply_install(control_plane, operator_image[1])
        rollout = watch_rollout(
            api=kube_api, dataplane=dataplane, tenant=tenant, image=operator_image[1]
        )
        dataplane_report.append(
            f"install.yaml: 2 replicas Ready in {ready_after:.0f} s; {rollout.describe()}"
        )
    finally:
        # Uninstall as documented: profiles first (while the operator runs), then the file.
        delete_profile(kube_api, tenant.profile)

    core.delete_namespaced_pod(prometheus.name, "monitoring", grace_period_seconds=0)
    text = yaml.safe_dump_all(one_node_install(operator_image[1]))
    kubectl(control_plane, "delete", "--wait=true", "-f", "-", stdin=text)
    # docs/install.md: the baseline's binding (always), the orphaned policies (onDelete Orphan).
    assert admission_leftovers(control_plane) == [BASELINE_LEFTOVER]
    kubectl(control_plane, "delete", "validatingadmissionpolicybinding", BASELINE_BINDING)
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
