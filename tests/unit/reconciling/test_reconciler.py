"""The reconciler end to end against the in-memory API server, on loop time.

The runtime is built by its composition root and fed by its own watches of the fake server
(tests/unit/hermetic.py): opt-in, a profile's fan-out, drift repair, Report mode, a conflict,
an expired watch and the steady state are checked by what the server holds and received.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import cast

import kopf
import pytest

from netiso.handlers import isolationprofiles
from netiso.observed.drifts import Drift, DriftReason
from netiso.observed.entries import NamespaceState
from netiso.runtime.reading import ALL_POLICIES
from netiso.runtime.watching import WATCH_SECONDS
from tests.unit.apiserver import FakeApiServer
from tests.unit.hermetic import (
    DEFAULT_DENY,
    DNS_EGRESS,
    NAMESPACES,
    PROFILES,
    deliver_profile,
    event_reasons,
    namespace_body,
    policy_names,
    policy_path,
    policy_writes,
    profile_body,
    profile_path,
    running,
    settings,
    settle,
)

pytestmark = pytest.mark.looptime

GATEWAY = "netiso-allow-gateway-ingress"
GATEWAY_SPEC = {
    "enabled": True,
    "namespaces": ["ingress-nginx"],
    "podSelector": {"matchLabels": {"app.kubernetes.io/name": "ingress-nginx"}},
    "ports": [{"protocol": "TCP", "port": 8080}],
}


def edit_policy(server: FakeApiServer, namespace: str, name: str, **spec: object) -> None:
    """A person's change to one of netiso's policies."""
    body = server.get(policy_path(namespace, name))
    assert body is not None
    body["spec"] = {**body["spec"], **spec}
    server.put(policy_path(namespace), body)


async def test_a_namespace_that_opts_in_gets_its_policies_allows_first() -> None:
    server = FakeApiServer()
    server.put(PROFILES, profile_body("base"))
    async with running(server) as runtime:
        server.put(NAMESPACES, namespace_body("team-a", profile="base"))
        server.put(NAMESPACES, namespace_body("elsewhere", profile=None))
        await settle()
        assert policy_names(server, "team-a") == {DNS_EGRESS, DEFAULT_DENY}
        assert policy_names(server, "elsewhere") == set()
        assert policy_writes(server) == [("create", DNS_EGRESS), ("create", DEFAULT_DENY)]
        assert runtime.reconciler.records()["team-a"].state == NamespaceState.ISOLATED
        assert "Isolated" in event_reasons(server, "team-a")
        status = (server.get(profile_path("base")) or {})["status"]
        assert (status["namespaces"], status["inSync"]) == (1, 1)
        # No write to the Namespace itself, ever.
        assert not [
            s for s in server.writes() if s.path.count("/") <= 4 and "/namespaces" in s.path
        ]


async def test_a_profile_change_fans_out_to_every_namespace_and_opt_out_removes_all() -> None:
    server = FakeApiServer()
    server.put(PROFILES, profile_body("base"))
    names = [f"fan-{i}" for i in range(3)]
    for name in names:
        server.put(NAMESPACES, namespace_body(name, profile="base"))
    async with running(server) as runtime:
        await settle()
        server.put(PROFILES, profile_body("base", gateway=GATEWAY_SPEC))
        await deliver_profile(runtime, server, "base")
        await settle()
        for name in names:
            assert policy_names(server, name) == {DNS_EGRESS, GATEWAY, DEFAULT_DENY}
        # The opt-out: the label goes, and with it every policy, the default-deny first.
        server.put(NAMESPACES, namespace_body("fan-0", profile=None))
        await settle()
        assert policy_names(server, "fan-0") == set()
        deletes = [name for verb, name in policy_writes(server) if verb == "delete"]
        assert deletes[0] == DEFAULT_DENY
        assert sorted(deletes) == sorted([DEFAULT_DENY, DNS_EGRESS, GATEWAY])
        assert "fan-0" not in runtime.reconciler.records()


async def test_a_changed_or_deleted_policy_is_repaired() -> None:
    server = FakeApiServer()
    server.put(PROFILES, profile_body("base"))
    server.put(NAMESPACES, namespace_body("team-a", profile="base"))
    async with running(server) as runtime:
        await settle()
        rendered = server.get(policy_path("team-a", DEFAULT_DENY))
        assert rendered is not None
        edit_policy(server, "team-a", DEFAULT_DENY, policyTypes=["Ingress"])
        server.remove(policy_path("team-a"), DNS_EGRESS)
        await settle()
        repaired = server.get(policy_path("team-a", DEFAULT_DENY))
        assert repaired is not None
        assert repaired["spec"] == rendered["spec"]
        assert policy_names(server, "team-a") == {DNS_EGRESS, DEFAULT_DENY}
        assert {"DriftDetected", "DriftRepaired"} <= set(event_reasons(server, "team-a"))
        assert runtime.reconciler.records()["team-a"].state == NamespaceState.ISOLATED


async def test_report_mode_writes_nothing_and_shows_the_drift() -> None:
    server = FakeApiServer()
    server.put(PROFILES, profile_body("base", driftAction="Report"))
    server.put(NAMESPACES, namespace_body("team-a", profile="base"))
    async with running(server) as runtime:
        await settle()
        writes = len(policy_writes(server))
        edit_policy(server, "team-a", DEFAULT_DENY, policyTypes=["Ingress"])
        await settle(30)
        assert len(policy_writes(server)) == writes
        stored = server.get(policy_path("team-a", DEFAULT_DENY))
        assert stored is not None
        assert stored["spec"]["policyTypes"] == ["Ingress"]
        record = runtime.reconciler.records()["team-a"]
        assert record.state == NamespaceState.DRIFTED
        assert Drift("team-a", DEFAULT_DENY, DriftReason.MODIFIED) in record.drifts
        assert (server.get(profile_path("base")) or {})["status"]["drifted"] == 1


async def test_a_conflict_on_a_repair_is_read_again_and_replaced() -> None:
    server = FakeApiServer()
    server.put(PROFILES, profile_body("base"))
    server.put(NAMESPACES, namespace_body("team-a", profile="base"))
    async with running(server):
        await settle()
        rendered = server.get(policy_path("team-a", DEFAULT_DENY))
        assert rendered is not None
        # The repair's PUT loses a race (the real client retries 409 Conflict and gives up).
        conflict = server.fail("PUT", f"networkpolicies/{DEFAULT_DENY}", status=409)
        edit_policy(server, "team-a", DEFAULT_DENY, policyTypes=["Ingress"])
        await settle()
        assert conflict.times == 0
        repaired = server.get(policy_path("team-a", DEFAULT_DENY))
        assert repaired is not None
        assert repaired["spec"] == rendered["spec"]
        verbs = [verb for verb, name in policy_writes(server) if name == DEFAULT_DENY]
        assert verbs == ["create", "update", "update"]


async def test_a_policy_of_someone_else_with_netisos_name_is_never_touched() -> None:
    server = FakeApiServer()
    server.put(PROFILES, profile_body("base"))
    foreign = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {
            "name": DEFAULT_DENY,
            "labels": {"app.kubernetes.io/managed-by": "netiso"},
        },
        "spec": {"podSelector": {}, "policyTypes": ["Ingress"]},
    }
    server.put(policy_path("team-a"), foreign)
    server.put(NAMESPACES, namespace_body("team-a", profile="base"))
    async with running(server) as runtime:
        await settle()
        stored = server.get(policy_path("team-a", DEFAULT_DENY))
        assert stored is not None
        assert stored["spec"] == foreign["spec"]
        assert [w for w in policy_writes(server) if w[1] == DEFAULT_DENY] == []
        assert runtime.reconciler.records()["team-a"].state == NamespaceState.ERROR


async def test_an_expired_watch_is_listed_again_and_what_changed_meanwhile_is_seen() -> None:
    server = FakeApiServer()
    server.put(PROFILES, profile_body("base"))
    server.put(NAMESPACES, namespace_body("team-a", profile="base"))
    async with running(server):
        await settle()
        lists = len([s for s in server.sent if s.verb == "list" and s.path == ALL_POLICIES])
        server.expire_watches()
        server.remove(policy_path("team-a"), DNS_EGRESS)
        server.put(NAMESPACES, namespace_body("team-b", profile="base"))
        await settle()
        relists = [s for s in server.sent if s.verb == "list" and s.path == ALL_POLICIES]
        assert len(relists) == lists + 1
        assert policy_names(server, "team-a") == {DNS_EGRESS, DEFAULT_DENY}
        assert policy_names(server, "team-b") == {DNS_EGRESS, DEFAULT_DENY}


async def test_at_steady_state_and_after_a_restart_nothing_is_written() -> None:
    server = FakeApiServer()
    server.put(PROFILES, profile_body("base"))
    for i in range(5):
        server.put(NAMESPACES, namespace_body(f"steady-{i}", profile="base"))
    # Statuses flushed each second, as in production: a long run stays cheap in the test.
    config = settings(status_interval=1.0)
    async with running(server, config) as runtime:
        await settle()
        written = len(server.writes())
        runtime.reconciler.resync("base")
        await settle(WATCH_SECONDS + 10)  # a resync, the watches renewed, status flushes
        assert len(server.writes()) == written
    async with running(server, config) as again:
        await settle()
        assert again.reconciler.ready
        assert len(server.writes()) == written


async def test_a_change_while_the_status_is_being_written_is_counted_too() -> None:
    server = FakeApiServer()
    server.put(PROFILES, profile_body("base"))
    # The first status write (no namespace yet) is slow: the namespace is isolated meanwhile,
    # and its count must not be lost when that write returns.
    server.slow("PATCH", "isolationprofiles/base/status", delay=1.0)
    async with running(server):
        await settle(0.5)
        server.put(NAMESPACES, namespace_body("team-a", profile="base"))
        await settle()
        assert policy_names(server, "team-a") == {DNS_EGRESS, DEFAULT_DENY}
        status = (server.get(profile_path("base")) or {})["status"]
        assert (status["namespaces"], status["inSync"]) == (1, 1)


async def test_a_late_event_with_an_older_status_does_not_hide_the_stored_one() -> None:
    server = FakeApiServer()
    server.put(PROFILES, profile_body("base"))
    server.put(NAMESPACES, namespace_body("team-a", profile="base"))
    async with running(server) as runtime:
        await settle()
        older = server.get(profile_path("base"))  # its status counts team-a alone
        assert older is not None
        server.put(NAMESPACES, namespace_body("team-b", profile="base"))
        await settle()
        assert (server.get(profile_path("base")) or {})["status"]["namespaces"] == 2
        # Kopf hands over the event of the first status write only now, after the second.
        handler = cast(Callable[..., Awaitable[None]], isolationprofiles.profile_event)
        memo = kopf.Memo()
        memo["netiso"] = runtime
        await handler(body=older, type="MODIFIED", memo=memo)
        # team-b leaves: the counts are those of the first write again, and must be written.
        server.put(NAMESPACES, namespace_body("team-b", profile=None))
        await settle()
        status = (server.get(profile_path("base")) or {})["status"]
        assert (status["namespaces"], status["inSync"]) == (1, 1)
