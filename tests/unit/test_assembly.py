"""The composition root: what build_runtime() builds, and the startup and cleanup order.

Built as the startup handler builds it, against the in-memory API server on loop time
(tests/unit/hermetic.py), with leader election on: nothing is sent before start(); start()
campaigns, lists, watches and isolates; stop() releases the Lease and closes every client;
with two shards, each leader publishes its counts and weakened namespaces in its Lease and
shard 0's leader alone writes the merged profile status.
"""

from __future__ import annotations

import dataclasses

import pytest

from netiso.assembly import Runtime
from netiso.model.leases import shard_of
from netiso.runtime.leasing import lease_path
from tests.unit.apiserver import FakeApiServer
from tests.unit.hermetic import (
    NAMESPACES,
    PROFILES,
    build,
    namespace_body,
    policy_names,
    policy_path,
    profile_body,
    profile_path,
    running,
    settings,
    settle,
)

pytestmark = pytest.mark.looptime

ELECTED = settings(leader_election=True, status_interval=1.0)


def holder(server: FakeApiServer, name: str) -> object:
    lease = server.get(lease_path(ELECTED.operator_namespace, name))
    return None if lease is None else lease["spec"].get("holderIdentity")


def sent_by(runtime: Runtime, verb: str, code: str | None = None) -> float:
    """Requests of `verb` (answered with `code`) that this runtime's operator client sent."""
    return sum(
        sample.value
        for family in runtime.metrics.registry.collect()
        for sample in family.samples
        if sample.name == "netiso_api_requests_total"
        and sample.labels.get("verb") == verb
        and code in (None, sample.labels.get("code"))
    )


async def test_nothing_is_sent_before_start_and_stop_releases_and_closes_everything() -> None:
    server = FakeApiServer()
    server.put(PROFILES, profile_body("base"))
    server.put(NAMESPACES, namespace_body("team-a", profile="base"))
    runtime = build(server, settings(leader_election=True, identity="a", admission=True))
    assert server.sent == []
    assert runtime.election is not None
    assert runtime.keeper is not None
    assert runtime.tallies is None  # one shard
    await runtime.start()
    await settle()
    assert holder(server, ELECTED.lease_name) == "a"
    assert runtime.reconciler.ready
    assert policy_names(server, "team-a") == {"netiso-allow-dns-egress", "netiso-default-deny"}
    assert runtime.metrics.registry.get_sample_value("netiso_leader") == 1
    await runtime.stop()
    assert holder(server, ELECTED.lease_name) is None  # released: a standby takes over at once
    assert server.clients_made
    assert all(client.closed for client in server.clients_made)


async def test_shard_leaders_publish_their_counts_and_shard_0s_leader_writes_the_sum() -> None:
    server = FakeApiServer()
    server.put(PROFILES, profile_body("base"))
    names = [f"team-{i}" for i in range(8)]
    assert {shard_of(name, 2) for name in names} == {0, 1}
    for name in names:
        server.put(NAMESPACES, namespace_body(name, profile="base"))
    sharded = settings(leader_election=True, shards=2, max_shards_per_replica=1)
    async with (
        running(server, dataclasses.replace(sharded, identity="a")) as a,
        running(server, dataclasses.replace(sharded, identity="b")) as b,
    ):
        await settle(30)
        assert a.tallies is not None
        assert b.tallies is not None
        assert {holder(server, f"{ELECTED.lease_name}-{s}") for s in (0, 1)} == {"a", "b"}
        for name in names:
            assert policy_names(server, name) == {"netiso-allow-dns-egress", "netiso-default-deny"}
        status = (server.get(profile_path("base")) or {})["status"]
        assert (status["namespaces"], status["inSync"]) == (8, 8)
        # Each namespace written by its shard's leader alone (two writers would race their
        # creates, one refused as AlreadyExists), the status by shard 0's leader alone.
        assert sent_by(a, "create", "409") + sent_by(b, "create", "409") == 0
        zero = a if holder(server, f"{ELECTED.lease_name}-0") == "a" else b
        other = b if zero is a else a
        assert sent_by(zero, "patch") > 0
        assert sent_by(other, "patch") == 0
        assert len(zero.reconciler.records()) + len(other.reconciler.records()) == len(names)


async def test_the_status_names_the_weakened_namespaces_of_every_shard() -> None:
    # One owner's allow-all ingress policy per namespace: each namespace is weakened.
    server = FakeApiServer()
    server.put(PROFILES, profile_body("base"))
    names = [f"team-{i}" for i in range(6)]
    assert {shard_of(name, 2) for name in names} == {0, 1}
    for name in names:
        server.put(NAMESPACES, namespace_body(name, profile="base"))
        server.put(
            policy_path(name),
            {
                "apiVersion": "networking.k8s.io/v1",
                "kind": "NetworkPolicy",
                "metadata": {"name": "open", "namespace": name},
                "spec": {"podSelector": {}, "policyTypes": ["Ingress"], "ingress": [{}]},
            },
        )
    sharded = settings(leader_election=True, shards=2, max_shards_per_replica=1)
    async with (
        running(server, dataclasses.replace(sharded, identity="a")),
        running(server, dataclasses.replace(sharded, identity="b")),
    ):
        await settle(30)
        assert {holder(server, f"{ELECTED.lease_name}-{s}") for s in (0, 1)} == {"a", "b"}
        status = (server.get(profile_path("base")) or {})["status"]
    # The writer leads one shard only, yet the list is the namespaces of both, as the count.
    assert status["weakened"] == len(names)
    assert [entry["namespace"] for entry in status["weakenedNamespaces"]] == names
    assert all(entry["exposure"] for entry in status["weakenedNamespaces"])
