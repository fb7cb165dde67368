"""The Lease campaign (leadership/electing.py) against an in-memory Lease API and a fake clock.

The fake answers GET/POST/PUT as the API server does for Leases (404, AlreadyExists, a
Conflict on a stale resourceVersion), so acquisition, renewal, the fence at the renew
deadline, take-over after the lease duration and release are checked to the second.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, cast

import pytest

from netiso.leadership.electing import CrossLoopCredentials, ElectionThread, Elector
from netiso.model.leases import Move, Timing
from netiso.runtime.client import ApiClient, Credentials, Fenced, PublishedCredentials

TIMING = Timing(lease_duration=15, renew_deadline=10, retry_period=2)


class LeaseServer:
    """Leases in memory, with resourceVersions as the API server keeps them."""

    def __init__(self) -> None:
        self.leases: dict[str, dict[str, Any]] = {}
        self.version = 0
        self.writes: list[tuple[str, str]] = []

    async def request(
        self, method: str, path: str, *, verb: str, body: Any = None, **_: Any
    ) -> tuple[int, dict[str, Any]]:
        await asyncio.sleep(0)  # let concurrent campaigns interleave, as over the network
        name = path.rsplit("/", 1)[1] if method != "POST" else body["metadata"]["name"]
        current = self.leases.get(name)
        if method == "GET":
            return (404, {}) if current is None else (200, current)
        self.writes.append((verb, name))
        if method == "POST" and current is not None:
            return 409, {"reason": "AlreadyExists"}
        if method == "PUT":
            if current is None:
                return 404, {}
            if body["metadata"].get("resourceVersion") != current["metadata"]["resourceVersion"]:
                return 409, {"reason": "Conflict"}
        self.version += 1
        stored = {**body, "metadata": {**body["metadata"], "resourceVersion": str(self.version)}}
        self.leases[name] = stored
        return 200, stored

    async def close(self) -> None:
        """The ApiClient's close: nothing to close in memory."""

    def holder(self, name: str = "netiso") -> str | None:
        return cast(str | None, self.leases[name]["spec"].get("holderIdentity"))


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def elector(server: LeaseServer, clock: Clock, *, me: str, **kwargs: Any) -> Elector:
    return Elector(
        api=cast(ApiClient, server),
        namespace="netiso-system",
        name="netiso",
        identity=me,
        timing=TIMING,
        clock=clock,
        **kwargs,
    )


async def test_the_first_replica_creates_the_lease_and_the_second_stands_by() -> None:
    server, clock = LeaseServer(), Clock()
    a, b = elector(server, clock, me="a"), elector(server, clock, me="b")
    assert await a.round(0) == Move.CREATE
    assert await b.round(0) == Move.WAIT
    assert a.may_write()
    assert a.leads("anything")
    assert not b.may_write()
    assert server.holder() == "a"


async def test_a_leader_that_cannot_renew_stops_writing_at_the_renew_deadline() -> None:
    server, clock = LeaseServer(), Clock()
    a, b = elector(server, clock, me="a"), elector(server, clock, me="b")
    await a.round(0)
    await b.round(0)  # b sees a's record now and starts its expiry clock
    clock.now += 9.99
    assert a.may_write()
    clock.now += 0.01
    assert not a.may_write()  # fenced at 10 s, with nobody else holding yet
    assert await b.round(0) == Move.WAIT
    clock.now += 4.99
    assert await b.round(0) == Move.WAIT
    clock.now += 0.01
    assert await b.round(0) == Move.TAKE  # 15 s after b saw a's last renewal
    assert b.may_write()
    assert server.holder() == "b"


async def test_renewals_keep_the_lease_and_others_waiting() -> None:
    server, clock = LeaseServer(), Clock()
    a, b = elector(server, clock, me="a"), elector(server, clock, me="b")
    await a.round(0)
    for _ in range(20):
        clock.now += TIMING.retry_period
        assert await a.round(0) == Move.RENEW
        assert await b.round(0) == Move.WAIT
    assert a.may_write()
    assert [verb for verb, _ in server.writes] == ["create"] + ["update"] * 20


async def test_a_standby_tries_again_the_moment_the_lease_runs_out() -> None:
    server, clock = LeaseServer(), Clock()
    a, b = elector(server, clock, me="a"), elector(server, clock, me="b")
    await a.round(0)
    await b.round(0)
    assert a.next_round_in(0) == TIMING.retry_period  # the holder renews on the retry period
    assert b.next_round_in(0) == TIMING.retry_period
    clock.now += 14.5
    assert b.next_round_in(0) == pytest.approx(0.51)
    clock.now += 0.49
    assert b.next_round_in(0) == pytest.approx(0.02)
    clock.now += 1
    assert b.next_round_in(0) == TIMING.retry_period  # expired and not taken: no hot loop
    # Its own lapsed Lease (renewals refused, say) is retried on the retry period, not in a
    # hot loop.
    assert a.next_round_in(0) == TIMING.retry_period


async def test_a_resumed_leader_whose_lease_was_taken_gets_a_conflict_and_stands_by() -> None:
    server, clock = LeaseServer(), Clock()
    a, b = elector(server, clock, me="a"), elector(server, clock, me="b")
    await a.round(0)
    await b.round(0)
    clock.now += 15  # a is paused: no renewal
    assert await b.round(0) == Move.TAKE
    assert not a.may_write()
    # Resumed, a reads the Lease (its term lapsed) and finds b holding it.
    assert await a.round(0) == Move.WAIT
    assert not a.may_write()
    assert server.holder() == "b"


async def test_a_renewal_on_a_stale_version_is_refused_and_stops_writing_at_once() -> None:
    server, clock = LeaseServer(), Clock()
    a = elector(server, clock, me="a")
    await a.round(0)
    # Someone else wrote the Lease (an operator by hand, say): a's renewal conflicts.
    server.leases["netiso"]["metadata"]["resourceVersion"] = "999"
    clock.now += 2
    assert await a.round(0) == Move.WAIT
    assert not a.may_write()


async def test_release_on_stop_lets_the_standby_take_over_at_its_next_round() -> None:
    server, clock = LeaseServer(), Clock()
    a, b = elector(server, clock, me="a"), elector(server, clock, me="b")
    await a.round(0)
    await b.round(0)
    await a.stop(release_leases=True)
    assert not a.may_write()
    assert server.holder() is None
    assert await b.round(0) == Move.TAKE


async def test_a_replica_leads_at_most_its_share_of_shards() -> None:
    server, clock = LeaseServer(), Clock()
    a = elector(server, clock, me="a", shards=3, max_held=2)
    b = elector(server, clock, me="b", shards=3, max_held=2)
    for shard in range(3):
        await a.round(shard)
        await b.round(shard)
    assert a.held() == frozenset({0, 1})
    assert b.held() == frozenset({2})
    assert {server.holder(f"netiso-{s}") for s in range(3)} == {"a", "b"}


async def test_concurrent_campaigns_respect_the_share_too() -> None:
    server, clock = LeaseServer(), Clock()
    a = elector(server, clock, me="a", shards=3, max_held=2)
    await asyncio.gather(*(a.round(shard) for shard in range(3)))
    assert len(a.held()) == 2


async def test_leadership_changes_are_announced_once_each() -> None:
    server, clock = LeaseServer(), Clock()
    seen: list[frozenset[int]] = []
    a = elector(server, clock, me="a", on_change=seen.append)
    a.start()
    try:
        await asyncio.sleep(0.4)
        clock.now += 10
        await asyncio.sleep(0.4)
    finally:
        await a.stop(release_leases=False)
    assert seen[:2] == [frozenset({0}), frozenset()]


async def test_the_fenced_client_refuses_writes_without_sending_them() -> None:
    sent: list[tuple[str, str]] = []
    api = ApiClient(
        Credentials(server="http://127.0.0.1:9"), retries=1, observer=lambda *a: sent.append(a)
    )
    api.fence(lambda: False)
    for method in ("POST", "PUT", "PATCH", "DELETE"):
        with pytest.raises(Fenced):
            await api.request(method, "/api/v1/namespaces/x/events", verb="create", body={})
    assert sent == []
    await api.close()


async def test_the_election_thread_campaigns_off_the_operators_loop_and_reports_on_it() -> None:
    server = LeaseServer()
    main = asyncio.get_running_loop()
    calls: list[tuple[frozenset[int], bool]] = []
    a = Elector(
        api=cast(ApiClient, server),
        namespace="netiso-system",
        name="netiso",
        identity="a",
        timing=Timing(lease_duration=15, renew_deadline=10, retry_period=0.1),
        on_change=lambda held: calls.append((held, asyncio.get_running_loop() is main)),
    )
    thread = ElectionThread(a, api=cast(ApiClient, server))
    thread.start()
    for _ in range(100):
        if a.may_write():
            break
        await asyncio.sleep(0.02)
    assert a.may_write()
    # The operator's loop is blocked for a second: the thread still renews the Lease.
    renewals = len(server.writes)
    time.sleep(1.0)  # noqa: ASYNC251  (blocking the loop is the point)
    assert len(server.writes) >= renewals + 5
    await thread.stop(release_leases=True)
    assert server.holder() is None
    assert calls[0] == (frozenset({0}), True)
    assert calls[-1] == (frozenset(), True)


async def test_the_lease_thread_gets_the_operators_credentials_once_published() -> None:
    source = PublishedCredentials()
    crossing = CrossLoopCredentials(source, loop=asyncio.get_running_loop())
    creds = Credentials(server="https://127.0.0.1:6443", token="t0")
    # Asked from another thread's loop before Kopf's login published anything: it waits.
    answer = asyncio.wrap_future(
        asyncio.get_running_loop().run_in_executor(None, asyncio.run, crossing.current())
    )
    await asyncio.sleep(0.1)
    assert not answer.done()
    source.publish(creds)
    assert await asyncio.wait_for(answer, 5) == creds
    # Kept: later renewals do not wait on the operator's loop.
    assert await crossing.current() == creds
