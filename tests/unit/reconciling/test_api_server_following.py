"""The operator keeps a profile's apiServer allow in step with the `default/kubernetes`
EndpointSlices, on the in-memory API server: a change re-renders exactly the namespaces whose
profile has the allow, once each; a rewrite with the same endpoints writes nothing."""

from __future__ import annotations

from typing import Any

import pytest

from netiso.model import apiendpoints
from tests.unit.apiserver import FakeApiServer
from tests.unit.hermetic import (
    NAMESPACES,
    PROFILES,
    namespace_body,
    policy_path,
    policy_writes,
    profile_body,
    running,
    settle,
)

pytestmark = pytest.mark.looptime
ALLOW = "netiso-allow-apiserver-egress"


def api_slice(name: str, *addresses: str, port: int = 6443, **labels: str) -> dict[str, Any]:
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": name,
            "namespace": "default",
            "labels": {apiendpoints.SERVICE_NAME_LABEL: "kubernetes", **labels},
        },
        "addressType": "IPv4",
        "ports": [{"name": "https", "port": port, "protocol": "TCP"}],
        "endpoints": [{"addresses": [address]} for address in addresses],
    }


def cidrs(server: FakeApiServer, namespace: str) -> list[str]:
    body = server.get(policy_path(namespace, ALLOW))
    assert body is not None
    return [
        peer["ipBlock"]["cidr"] for rule in body["spec"].get("egress", []) for peer in rule["to"]
    ]


async def test_endpoint_changes_rerender_only_the_allows_and_a_same_rewrite_writes_nothing() -> (
    None
):
    server = FakeApiServer()
    server.put(apiendpoints.SLICES_PATH, api_slice("kubernetes", "192.168.0.10"))
    access = {"enabled": True, "podSelector": {"matchLabels": {"app": "ctl"}}}
    server.put(PROFILES, profile_body("with", apiServer=access))
    server.put(PROFILES, profile_body("without"))
    for name, profile in (("a", "with"), ("b", "with"), ("c", "without")):
        server.put(NAMESPACES, namespace_body(name, profile=profile))
    async with running(server):
        await settle()
        assert cidrs(server, "a") == cidrs(server, "b") == ["192.168.0.10/32"]
        assert server.get(policy_path("c", ALLOW)) is None
        before = len(policy_writes(server))

        server.put(apiendpoints.SLICES_PATH, api_slice("kubernetes", "192.168.0.11"))
        await settle()
        assert cidrs(server, "a") == cidrs(server, "b") == ["192.168.0.11/32"]
        assert policy_writes(server)[before:] == [("update", ALLOW), ("update", ALLOW)]

        steady = len(server.writes())
        server.put(apiendpoints.SLICES_PATH, api_slice("kubernetes", "192.168.0.11", touched="y"))
        await settle(30.0)
        assert server.writes()[steady:] == []
