"""The Lease campaign (leadership/electing.py) against the in-memory API server and loop time.

The fake (tests/unit/apiserver.py) answers GET/POST/PUT as the API server does for Leases (404,
AlreadyExists, a Conflict on a stale resourceVersion) and `looptime` runs the loop's clock,
which the Leadership reads, so acquisition, renewal, the fence at the renew deadline,
take-over after the lease duration and release are checked to the hundredth of a second.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, cast

import pytest

from netiso.leadership.electing import (
    CrossLoopCredentials,
    ElectionThread,
    Elector,
    Leadership,
    on_loop,
)
from netiso.model.leases import Move, Timing
from netiso.runtime.client import ApiClient, Credentials, Fenced, PublishedCredentials
from netiso.runtime.leasing import lease_path
from tests.unit.apiserver import FakeApiServer

TIMING = Timing(lease_duration=15, renew_deadline=10, retry_period=2)
NAMESPACE = "netiso-system"
# Loop time is fake (looptime) unless a test says otherwise: its clock is the Leadership's.
pytestmark = pytest.mark.looptime


def holder(server: FakeApiServer, name: str = "netiso") -> str | None:
    lease = server.get(lease_path(NAMESPACE, name))
    assert lease is not None
    return cast(str | None, lease["spec"].get("holderIdentity"))


def elector(server: FakeApiServer, *, me: str, shards: int = 1, **kwargs: Any) -> Elector:
    """A campaign whose Leadership reads the test loop's clock (looptime's)."""
    clock = asyncio.get_running_loop().time
    return Elector(
        leadership=Leadership(timing=TIMING, shards=shards, clock=clock),
        api=server.client(),
        namespace=NAMESPACE,
        name="netiso",
        identity=me,
        **kwargs,
    )


async def test_the_first_replica_creates_the_lease_and_the_second_stands_by() -> None:
    server = FakeApiServer()
    a, b = elector(server, me="a"), elector(server, me="b")
    assert await a.round(0) == Move.CREATE
    assert await b.round(0) == Move.WAIT
    assert a.leadership.may_write()
    assert a.leadership.leads("anything")
    assert not b.leadership.may_write()
    assert holder(server) == "a"


async def test_a_leader_that_cannot_renew_stops_writing_at_the_renew_deadline() -> None:
    server = FakeApiServer()
    a, b = elector(server, me="a"), elector(server, me="b")
    await a.round(0)
    await b.round(0)  # b sees a's record now and starts its expiry clock
    await asyncio.sleep(9.99)
    assert a.leadership.may_write()
    await asyncio.sleep(0.01)
    assert not a.leadership.may_write()  # fenced at 10 s, with nobody else holding yet
    assert await b.round(0) == Move.WAIT
    await asyncio.sleep(4.99)
    assert await b.round(0) == Move.WAIT
    await asyncio.sleep(0.01)
    assert await b.round(0) == Move.TAKE  # 15 s after b saw a's last renewal
    assert b.leadership.may_write()
    assert holder(server) == "b"


async def test_renewals_keep_the_lease_and_others_waiting() -> None:
    server = FakeApiServer()
    a, b = elector(server, me="a"), elector(server, me="b")
    await a.round(0)
    for _ in range(20):
        await asyncio.sleep(TIMING.retry_period)
        assert await a.round(0) == Move.RENEW
        assert await b.round(0) == Move.WAIT
    assert a.leadership.may_write()
    assert [sent.verb for sent in server.writes()] == ["create"] + ["update"] * 20


async def test_a_standby_tries_again_the_moment_the_lease_runs_out() -> None:
    server = FakeApiServer()
    a, b = elector(server, me="a"), elector(server, me="b")
    await a.round(0)
    await b.round(0)
    assert a.next_round_in(0) == TIMING.retry_period  # the holder renews on the retry period
    assert b.next_round_in(0) == TIMING.retry_period
    await asyncio.sleep(14.5)
    assert b.next_round_in(0) == pytest.approx(0.51)
    await asyncio.sleep(0.49)
    assert b.next_round_in(0) == pytest.approx(0.02)
    await asyncio.sleep(1)
    assert b.next_round_in(0) == TIMING.retry_period  # expired and not taken: no hot loop
    # Its own lapsed Lease (renewals refused, say) is retried on the retry period, not in a
    # hot loop.
    assert a.next_round_in(0) == TIMING.retry_period


async def test_a_resumed_leader_whose_lease_was_taken_gets_a_conflict_and_stands_by() -> None:
    server = FakeApiServer()
    a, b = elector(server, me="a"), elector(server, me="b")
    await a.round(0)
    await b.round(0)
    await asyncio.sleep(15)  # a is paused: no renewal
    assert await b.round(0) == Move.TAKE
    assert not a.leadership.may_write()
    # Resumed, a reads the Lease (its term lapsed) and finds b holding it.
    assert await a.round(0) == Move.WAIT
    assert not a.leadership.may_write()
    assert holder(server) == "b"


async def test_a_renewal_on_a_stale_version_is_refused_and_stops_writing_at_once() -> None:
    server = FakeApiServer()
    a = elector(server, me="a")
    await a.round(0)
    # Someone else wrote the Lease (an operator by hand, say): a's renewal conflicts.
    lease = server.get(lease_path(NAMESPACE, "netiso"))
    assert lease is not None
    lease["metadata"]["annotations"] = {"touched": "by hand"}
    server.put(lease_path(NAMESPACE), lease)
    await asyncio.sleep(2)
    assert await a.round(0) == Move.WAIT
    assert not a.leadership.may_write()


async def test_release_on_stop_lets_the_standby_take_over_at_its_next_round() -> None:
    server = FakeApiServer()
    a, b = elector(server, me="a"), elector(server, me="b")
    await a.round(0)
    await b.round(0)
    await a.stop(release_leases=True)
    assert not a.leadership.may_write()
    assert holder(server) is None
    assert await b.round(0) == Move.TAKE


async def test_a_replica_leads_at_most_its_share_of_shards() -> None:
    server = FakeApiServer()
    a = elector(server, me="a", shards=3, max_held=2)
    b = elector(server, me="b", shards=3, max_held=2)
    for shard in range(3):
        await a.round(shard)
        await b.round(shard)
    assert a.leadership.held() == frozenset({0, 1})
    assert b.leadership.held() == frozenset({2})
    assert {holder(server, f"netiso-{s}") for s in range(3)} == {"a", "b"}


async def test_concurrent_campaigns_respect_the_share_too() -> None:
    server = FakeApiServer()
    a = elector(server, me="a", shards=3, max_held=2)
    await asyncio.gather(*(a.round(shard) for shard in range(3)))
    assert len(a.leadership.held()) == 2


async def test_leadership_changes_are_announced_once_each() -> None:
    server = FakeApiServer()
    seen: list[frozenset[int]] = []
    a = elector(server, me="a", on_change=seen.append)
    a.start()
    try:
        await asyncio.sleep(0.4)
        # Renewals fail from now on: the fence closes 10 s after the last one was sent.
        server.fail("PUT", "/leases/", status=503, times=1000)
        await asyncio.sleep(10.4)
    finally:
        await a.stop(release_leases=False)
    assert seen[:2] == [frozenset({0}), frozenset()]


async def test_the_fenced_client_refuses_writes_without_sending_them() -> None:
    sent: list[tuple[str, str]] = []
    api = ApiClient(
        Credentials(server="http://127.0.0.1:9"),
        retries=1,
        observer=lambda *a: sent.append(a),
        fence=lambda: False,
    )
    for method in ("POST", "PUT", "PATCH", "DELETE"):
        with pytest.raises(Fenced):
            await api.request(method, "/api/v1/namespaces/x/events", verb="create", body={})
    assert sent == []
    await api.close()


@pytest.mark.looptime(False)  # a thread with a loop of its own, on real time
async def test_the_election_thread_campaigns_off_the_operators_loop_and_reports_on_it() -> None:
    server = FakeApiServer()
    main = asyncio.get_running_loop()
    calls: list[tuple[frozenset[int], bool]] = []
    a = Elector(
        leadership=Leadership(
            timing=Timing(lease_duration=15, renew_deadline=10, retry_period=0.1)
        ),
        api=server.client(),
        namespace=NAMESPACE,
        name="netiso",
        identity="a",
        on_change=on_loop(
            lambda held: calls.append((held, asyncio.get_running_loop() is main)), loop=main
        ),
    )
    thread = ElectionThread(a, api=server.client())
    thread.start()
    for _ in range(100):
        if a.leadership.may_write():
            break
        await asyncio.sleep(0.02)
    assert a.leadership.may_write()
    # The operator's loop is blocked for a second: the thread still renews the Lease.
    renewals = len(server.writes())
    time.sleep(1.0)  # noqa: ASYNC251  (blocking the loop is the point)
    assert len(server.writes()) >= renewals + 5
    await thread.stop(release_leases=True)
    assert holder(server) is None
    assert calls[0] == (frozenset({0}), True)
    assert calls[-1] == (frozenset(), True)


@pytest.mark.looptime(False)  # waits on another thread's loop, on real time
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


FORBIDDEN = (
    'leases.coordination.k8s.io "netiso" is forbidden: User '
    '"system:serviceaccount:netiso-system:netiso-operator" cannot get resource "leases"'
)


@pytest.mark.parametrize(
    ("method", "status", "message", "said", "fixes", "recovered"),
    [
        # As the API server answers a Lease create in a namespace that does not exist.
        (
            "POST",
            404,
            f'namespaces "{NAMESPACE}" not found',
            f"the Lease namespace {NAMESPACE} does not exist",
            ("kubectl create namespace", "NETISO_OPERATOR_NAMESPACE", "NETISO_LEADER_ELECTION"),
            f"{NAMESPACE} exists now",
        ),
        # As it answers when the Role netiso-leader-election is missing.
        (
            "GET",
            403,
            FORBIDDEN,
            f"may not use Leases in {NAMESPACE} (403 Forbidden)",
            (
                "netiso-leader-election",
                "get, create and update",
                "NETISO_LEADER_ELECTION",
                FORBIDDEN,
            ),
            f"may use Leases in {NAMESPACE} now",
        ),
    ],
    ids=["namespace-missing", "forbidden"],
)
async def test_a_blocked_lease_is_reported_once_with_its_fixes_and_retried_slowly(
    caplog: pytest.LogCaptureFixture,
    method: str,
    status: int,
    message: str,
    said: str,
    fixes: tuple[str, ...],
    recovered: str,
) -> None:
    server = FakeApiServer()
    fault = server.fail(method, lease_path(NAMESPACE), status=status, message=message, times=4)
    a = elector(server, me="a")
    caplog.set_level("DEBUG", logger="netiso.leadership.electing")
    a.start()
    try:
        await asyncio.sleep(31)
        # Four attempts fail, at a slower pace than the 2 s retry period; the fifth succeeds.
        assert fault.times == 0
        assert not a.leadership.may_write()
        await asyncio.sleep(10)
        assert a.leadership.may_write()
        records = list(caplog.records)
    finally:
        await a.stop(release_leases=False)
    errors = [r.getMessage() for r in records if r.levelname == "ERROR"]
    assert len(errors) == 1, errors
    assert said in errors[0]
    for fix in fixes:
        assert fix in errors[0]
    assert not [r for r in records if r.levelname == "WARNING"]
    assert any(recovered in r.getMessage() for r in records)
