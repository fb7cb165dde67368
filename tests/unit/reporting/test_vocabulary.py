"""One vocabulary: the operator's metric and `netiso status` / `netiso diff` name the same
state and the same drift reason for each kind of drift.

The operator runs as built by its composition root against the in-memory API server; the
CLI's views read the same server. Each case sets up one kind of drift and compares what the
metric says (netiso_namespace_out_of_sync's state, netiso_policy_drift's reasons) with what
`netiso status` and `netiso diff -o json` say.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from netiso import conventions
from netiso.cli.inspection import diff_reports, read_snapshot, status_lines
from netiso.rendering.environment import make_environment
from tests.unit.apiserver import FakeApiServer
from tests.unit.hermetic import (
    DEFAULT_DENY,
    NAMESPACES,
    PROFILES,
    deliver_profile,
    namespace_body,
    policy_path,
    profile_body,
    running,
    settle,
)

pytestmark = pytest.mark.looptime

NS = "team-a"
ALLOW_ALL: dict[str, Any] = {"podSelector": {}, "ingress": [{}]}


def foreign(name: str, *, annotations: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": NS, "annotations": annotations or {}},
        "spec": ALLOW_ALL,
    }


def metric_view(exposition: bytes) -> tuple[str, set[str]]:
    """(state, {policy:reason}) of NS as the metrics say; "isolated" when it has no series."""
    state, drifts = "isolated", set()
    for family in text_string_to_metric_families(exposition.decode()):
        for sample in family.samples:
            if sample.labels.get("namespace") != NS:
                continue
            if family.name == "netiso_namespace_out_of_sync":
                state = sample.labels["state"]
            if family.name == "netiso_policy_drift":
                drifts.add(f"{sample.labels['policy']}:{sample.labels['reason']}")
    return state, drifts


async def modified_in_report_mode(server: FakeApiServer) -> None:
    body = server.get(policy_path(NS, DEFAULT_DENY))
    assert body is not None
    body["spec"] = {"podSelector": {}, "policyTypes": ["Ingress"]}
    server.put(policy_path(NS, DEFAULT_DENY), body)


async def squatted(server: FakeApiServer) -> None:
    server.remove(policy_path(NS), DEFAULT_DENY)
    server.put(policy_path(NS), foreign(DEFAULT_DENY))


async def violated(server: FakeApiServer) -> None:
    server.put(policy_path(NS), foreign("allow-all"))


async def excepted(server: FakeApiServer) -> None:
    server.put(
        policy_path(NS),
        foreign("allow-all", annotations={conventions.EXCEPTION_ANNOTATION: "OPS-1"}),
    )


CASES: dict[str, tuple[Callable[[FakeApiServer], Awaitable[None]], str, set[str]]] = {
    "modified": (modified_in_report_mode, "drifted", {f"{DEFAULT_DENY}:modified"}),
    "conflict": (squatted, "error", {f"{DEFAULT_DENY}:conflict"}),
    "violation": (violated, "drifted", set()),
    "excepted": (excepted, "excepted", set()),
}


@pytest.mark.parametrize("kind", list(CASES))
async def test_metric_status_and_diff_agree_on_state_and_reason(kind: str) -> None:
    make, state, drifts = CASES[kind]
    server = FakeApiServer()
    server.put(PROFILES, profile_body("base", driftAction="Report"))
    server.put(NAMESPACES, namespace_body(NS, profile="base"))
    async with running(server) as runtime:
        await deliver_profile(runtime, server, "base")
        await settle()
        await make(server)
        await settle()
        metric = metric_view(runtime.metrics.exposition())
        api = server.client()
        snapshot = await read_snapshot(api, namespace=NS)
    environment = make_environment()
    (line,) = status_lines(snapshot, environment=environment, protected=frozenset())
    (report,) = diff_reports(snapshot, environment=environment, protected=frozenset())
    shown = report.as_dict()
    assert metric == (state, drifts)
    assert (line.state, set(line.drift.split(",")) - {"-"}) == (state, drifts)
    assert (shown["state"], set(shown["reportedDrift"])) == (state, drifts)
