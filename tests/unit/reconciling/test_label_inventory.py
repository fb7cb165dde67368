"""Another namespace's labels decide whether a namespaceSelector admits every namespace.

The operator follows every namespace's labels, opted in or not, and a relabelled namespace
re-checks only the opted-in namespaces whose owners' selectors depend on a key it changed:
on loop time against the in-memory API server (tests/unit/hermetic.py).
"""

from __future__ import annotations

from typing import Any

import pytest

from netiso.model.guardrails import Rule
from netiso.observed.entries import NamespaceState
from netiso.reconciling.reconciler import Reconciler
from tests.unit.apiserver import FakeApiServer
from tests.unit.hermetic import (
    NAMESPACES,
    PROFILES,
    namespace_body,
    policy_path,
    profile_body,
    running,
    settle,
)

pytestmark = pytest.mark.looptime

RESULTS = ("changed", "unchanged", "error", "skipped")


def labelled(name: str, **labels: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}}


def not_in_team_x(namespace: str) -> dict[str, Any]:
    """Every namespace but those of team x: every namespace, while no namespace is team x."""
    selector = {"matchExpressions": [{"key": "team", "operator": "NotIn", "values": ["x"]}]}
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": "from-all-but-x", "namespace": namespace},
        "spec": {
            "podSelector": {},
            "policyTypes": ["Ingress"],
            "ingress": [{"from": [{"namespaceSelector": selector}], "ports": [{"port": 5432}]}],
        },
    }


def reconciles(reconciler: Reconciler) -> float:
    registry = reconciler._metrics.registry
    return sum(
        registry.get_sample_value("netiso_reconcile_total", {"result": result}) or 0.0
        for result in RESULTS
    )


async def test_relabelling_a_namespace_that_did_not_opt_in_reports_and_clears_the_drift() -> None:
    server = FakeApiServer()
    server.put(PROFILES, profile_body("base"))
    server.put(NAMESPACES, namespace_body("team-a", profile="base"))
    server.put(NAMESPACES, labelled("other", team="x"))
    server.put(policy_path("team-a"), not_in_team_x("team-a"))
    async with running(server) as runtime:
        await settle()
        records = runtime.reconciler.records
        assert records()["team-a"].state == NamespaceState.ISOLATED
        # Nobody is team x any more: the selector now admits every namespace.
        server.put(NAMESPACES, labelled("other", team="y"))
        await settle(1)
        record = records()["team-a"]
        assert record.state == NamespaceState.DRIFTED
        assert {v.rule for v in record.violations} == {Rule.ALL_NAMESPACES}
        server.put(NAMESPACES, labelled("other", team="x"))
        await settle(1)
        assert records()["team-a"].state == NamespaceState.ISOLATED
        assert records()["team-a"].violations == frozenset()


async def test_a_relabel_re_checks_only_the_namespaces_that_depend_on_the_key() -> None:
    server = FakeApiServer()
    server.put(PROFILES, profile_body("base"))
    server.put(NAMESPACES, namespace_body("team-a", profile="base"))
    for index in range(20):
        server.put(NAMESPACES, namespace_body(f"bystander-{index}", profile="base"))
    server.put(NAMESPACES, labelled("other", team="x"))
    server.put(NAMESPACES, labelled("third", team="x"))
    server.put(policy_path("team-a"), not_in_team_x("team-a"))
    async with running(server) as runtime:
        await settle()
        before, writes = reconciles(runtime.reconciler), len(server.writes())
        # A key no selector depends on: nobody is re-checked.
        server.put(NAMESPACES, labelled("other", team="x", colour="blue"))
        await settle(1)
        assert reconciles(runtime.reconciler) == before
        # A key team-a depends on, with no change of verdict (third is still team x): team-a
        # alone is re-checked, and nothing is written.
        server.put(NAMESPACES, labelled("other", team="z", colour="blue"))
        await settle(1)
        assert reconciles(runtime.reconciler) == before + 1
        assert runtime.reconciler.records()["team-a"].state == NamespaceState.ISOLATED
        assert len(server.writes()) == writes
