"""Leadership and the write fence with the reconciler, on the in-memory API server and loop time.

Replicas are wired as build_runtime() wires them (the Leadership asked by the client's fence
and the reconciler, the campaign telling the reconciler of changes), but the campaign runs on
the test's loop instead of a thread of its own, so looptime drives the Lease deadlines: a
lease lost mid-write stops the writes after it, and a standby takes over after the lease
duration and repairs what drifted meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import cast

import pytest

from netiso.leadership.electing import Elector, Leadership
from netiso.model.leases import Timing
from netiso.observed.entries import NamespaceState
from netiso.reconciling.reconciler import Reconciler
from netiso.rendering.environment import make_environment
from netiso.reporting.metrics import Metrics
from netiso.runtime.client import ApiClient
from tests.unit.apiserver import FakeApiServer, FakeClient
from tests.unit.hermetic import (
    DEFAULT_DENY,
    DNS_EGRESS,
    NAMESPACES,
    PROFILES,
    SETTINGS,
    namespace_body,
    policy_names,
    policy_path,
    policy_writes,
    profile_body,
    settle,
)

pytestmark = pytest.mark.looptime

TIMING = Timing(lease_duration=15, renew_deadline=10, retry_period=2)


@dataclass(frozen=True)
class Replica:
    leadership: Leadership
    elector: Elector
    reconciler: Reconciler
    # The campaign's own connection to the API server (a client of its own, as in production).
    lease_api: FakeClient


@contextlib.asynccontextmanager
async def replica(server: FakeApiServer, *, me: str) -> AsyncIterator[Replica]:
    """One operator replica's election and reconciler, wired as build_runtime() does."""
    leadership = Leadership(timing=TIMING, clock=asyncio.get_running_loop().time)
    metrics = Metrics(version="test")
    reconciler = Reconciler(
        api=server.client(fence=leadership.may_write),
        environment=make_environment(None),
        settings=SETTINGS,
        metrics=metrics,
        leads=leadership.leads,
        leading=leadership.writes_status,
    )
    lease_api = FakeClient(server)
    elector = Elector(
        leadership=leadership,
        api=cast(ApiClient, lease_api),
        namespace="netiso-system",
        name="netiso",
        identity=me,
        on_change=lambda held: reconciler.leadership_changed(),
    )
    reconciler.start()
    elector.start()
    try:
        yield Replica(leadership, elector, reconciler, lease_api)
    finally:
        await reconciler.stop()
        await elector.stop(release_leases=False)


def opted_in(server: FakeApiServer) -> None:
    server.put(PROFILES, profile_body("base"))
    server.put(NAMESPACES, namespace_body("team-a", profile="base"))


async def test_a_lease_lost_mid_write_stops_the_writes_after_it() -> None:
    server = FakeApiServer()
    opted_in(server)
    # The allow's create takes longer than the renew deadline; renewals fail meanwhile.
    server.slow("POST", "networkpolicies", delay=TIMING.renew_deadline + 1)
    async with replica(server, me="a") as a:
        await settle(0.5)
        assert a.leadership.may_write()
        server.fail("PUT", "/leases/", status=503, times=1000)
        await settle(30)
        assert not a.leadership.may_write()
        # The allow went out while this replica led; the default-deny after it never did.
        assert policy_writes(server) == [("create", DNS_EGRESS)]
        assert policy_names(server, "team-a") == {DNS_EGRESS}
        # Nothing else was sent after the fence closed (retries, Events, status) but the
        # campaign's own renewal attempts.
        acquired = next(s.at for s in server.writes("create") if "/leases" in s.path)
        closed = acquired + TIMING.renew_deadline
        assert [s for s in server.writes() if s.at >= closed and "/leases" not in s.path] == []
        assert a.reconciler.records() == {}


async def test_a_leader_past_its_renew_deadline_writes_nothing_and_a_standby_takes_over() -> None:
    server = FakeApiServer()
    opted_in(server)
    async with replica(server, me="a") as a, replica(server, me="b") as b:
        await settle()
        assert policy_names(server, "team-a") == {DNS_EGRESS, DEFAULT_DENY}
        assert a.leadership.may_write() != b.leadership.may_write()
        leader, standby = (a, b) if a.leadership.may_write() else (b, a)
        leader.lease_api.cut_off()  # its renewals hang from now on
        await settle(TIMING.renew_deadline)
        # The leader's fence has closed, and the standby may not take over before the lease
        # duration has passed since it saw the last renewal (at least 13 s from the cut).
        assert not leader.leadership.may_write()
        assert not standby.leadership.may_write()
        written = len(policy_writes(server))
        body = server.get(policy_path("team-a", DEFAULT_DENY))
        assert body is not None
        body["spec"]["policyTypes"] = ["Ingress"]
        server.put(policy_path("team-a"), body)
        await settle(2)
        assert len(policy_writes(server)) == written  # nobody may write: the drift stays
        await settle(TIMING.lease_duration)
        assert standby.leadership.may_write()
        repaired = server.get(policy_path("team-a", DEFAULT_DENY))
        assert repaired is not None
        assert repaired["spec"]["policyTypes"] != ["Ingress"]
        assert standby.reconciler.records()["team-a"].state == NamespaceState.ISOLATED
        assert not leader.leadership.may_write()
        assert "team-a" not in leader.reconciler.records()  # reported by its leader alone
