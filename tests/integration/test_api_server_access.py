"""A profile's apiServer allow against the real API server: rendered from the
`default/kubernetes` EndpointSlices, following them within seconds, and writing nothing while
they stay the same.

The API server keeps its own slice (`kubernetes`) in step with itself, so a test adds a second
slice of the same Service (as a cluster with several slices has) and changes that one.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from netiso.cli.app import main
from netiso_devkit.harness import OperatorProcess, wait_for

from .conftest import MakeNamespace, unique_name
from .ship_cluster import managed_in

ALLOW = "netiso-allow-apiserver-egress"
SELECTED = {"matchLabels": {"api-access": "true"}}


def api_slices(api: client.ApiClient) -> list[Any]:
    return list(
        client.DiscoveryV1Api(api)
        .list_namespaced_endpoint_slice(
            "default", label_selector="kubernetes.io/service-name=kubernetes"
        )
        .items
    )


def expected_rules(api: client.ApiClient) -> set[tuple[str, tuple[tuple[str, int], ...]]]:
    """(cidr, ports) for every address of every `default/kubernetes` slice."""
    rules = set()
    for item in api_slices(api):
        ports = tuple(sorted((p.protocol or "TCP", p.port) for p in item.ports or ()))
        for endpoint in item.endpoints or ():
            for address in endpoint.addresses:
                suffix = "/128" if ":" in address else "/32"
                rules.add((address + suffix, ports))
    return rules


def rendered_rules(policy: dict[str, Any]) -> set[tuple[str, tuple[tuple[str, int], ...]]]:
    rules = set()
    for rule in policy["spec"].get("egress") or ():
        ports = tuple(sorted((p["protocol"], p["port"]) for p in rule["ports"]))
        for peer in rule["to"]:
            assert set(peer) == {"ipBlock"}, peer  # addresses only, never a selector
            assert "except" not in peer["ipBlock"]
            rules.add((peer["ipBlock"]["cidr"], ports))
    return rules


def allow_in(api: client.ApiClient, namespace: str) -> dict[str, Any] | None:
    return managed_in(api, namespace).get(ALLOW)


@pytest.fixture
def extra_slice(kube_api: client.ApiClient) -> Iterator[str]:
    """The name of a second `kubernetes` EndpointSlice the test may change; deleted after."""
    name = unique_name("kubernetes-extra")
    yield name
    try:
        client.DiscoveryV1Api(kube_api).delete_namespaced_endpoint_slice(name, "default")
    except ApiException as error:
        if error.status != 404:
            raise


def slice_body(name: str, *addresses: str, port: int = 6443) -> dict[str, Any]:
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": name,
            "namespace": "default",
            "labels": {
                "kubernetes.io/service-name": "kubernetes",
                "endpointslice.kubernetes.io/managed-by": "netiso-tests",
            },
        },
        "addressType": "IPv4",
        "ports": [{"name": "https", "port": port, "protocol": "TCP"}],
        "endpoints": [{"addresses": [address]} for address in addresses],
    }


def timed(what: str, probe: Any, *, capsys: pytest.CaptureFixture[str]) -> float:
    """Wait (at most 15 s) for `probe`, and print how long it took (a measurement)."""
    started = time.monotonic()
    wait_for(what, probe, timeout=15.0)
    seconds = time.monotonic() - started
    with capsys.disabled():
        print(f"\n{what}: the allow followed in {seconds:.2f} s")
    return seconds


def test_the_allow_admits_exactly_the_endpoints_and_follows_them(
    operator: OperatorProcess,
    kube_api: client.ApiClient,
    make_namespace: MakeNamespace,
    profiles: Any,
    extra_slice: str,
    admin_kubeconfig: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    profile = profiles(apiServer={"enabled": True, "podSelector": SELECTED})
    namespace = make_namespace("api-access", labels={"netiso.io/profile": profile})
    # The local control plane advertises a loopback address, which the API server never
    # lists as an endpoint: its own slice may be empty, and the allow then admits nothing.
    real = expected_rules(kube_api)
    wait_for("the allow", lambda: allow_in(kube_api, namespace))
    policy = allow_in(kube_api, namespace)
    assert policy is not None
    assert policy["spec"]["podSelector"] == SELECTED
    assert policy["spec"]["policyTypes"] == ["Egress"]
    assert rendered_rules(policy) == real

    discovery = client.DiscoveryV1Api(kube_api)
    discovery.create_namespaced_endpoint_slice("default", slice_body(extra_slice, "10.123.45.67"))
    added = real | {("10.123.45.67/32", (("TCP", 6443),))}
    timed(
        "endpoint added",
        lambda: rendered_rules(allow_in(kube_api, namespace) or {"spec": {}}) == added,
        capsys=capsys,
    )

    discovery.replace_namespaced_endpoint_slice(
        extra_slice, "default", slice_body(extra_slice, "10.123.45.68", port=8443)
    )
    moved = real | {("10.123.45.68/32", (("TCP", 8443),))}
    timed(
        "endpoint moved",
        lambda: rendered_rules(allow_in(kube_api, namespace) or {"spec": {}}) == moved,
        capsys=capsys,
    )

    # Steady state: a rewrite of a slice with the same endpoints, and time, write nothing.
    time.sleep(2.0)
    writes = operator.write_requests()
    relabelled = slice_body(extra_slice, "10.123.45.68", port=8443)
    relabelled["metadata"]["labels"]["touched"] = "yes"
    discovery.replace_namespaced_endpoint_slice(extra_slice, "default", relabelled)
    time.sleep(5.0)
    assert operator.write_requests() == writes

    discovery.delete_namespaced_endpoint_slice(extra_slice, "default")
    timed(
        "endpoint removed",
        lambda: rendered_rules(allow_in(kube_api, namespace) or {"spec": {}}) == real,
        capsys=capsys,
    )

    # netiso diff reads the same endpoints as the operator: nothing to change.
    capsys.readouterr()
    code = main(["diff", "-n", namespace, "--kubeconfig", str(admin_kubeconfig)])
    assert code == 0, capsys.readouterr().out


def test_an_enabled_allow_without_named_pods_is_refused_by_the_api_server(
    kube_api: client.ApiClient, profiles: Any, operator: OperatorProcess
) -> None:
    with pytest.raises(ApiException) as refused:
        profiles(apiServer={"enabled": True})
    assert refused.value.status == 422
    assert "apiServer.podSelector is required" in str(refused.value.body)
    with pytest.raises(ApiException):
        profiles(apiServer={"enabled": True, "podSelector": {}})
