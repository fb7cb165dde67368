"""Campaigning for the Leases: one loop per shard that acquires, renews and releases.

Leadership layer: drives model/leases.py's decisions with runtime/leasing.py's I/O. What
this replica leads (`Leadership`) is computed from the clock on every question (`held()`),
never from a flag a stuck loop could leave set: the API client's write gate asks it before
every write.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any, Final, TypeVar

from netiso.model.leases import (
    LeaseRecord,
    Move,
    Sighting,
    Timing,
    claim,
    decide,
    lease_name,
    release,
    shard_of,
    sight,
    write_deadline,
)
from netiso.runtime import leasing as leases
from netiso.runtime.client import ApiClient, ApiError, Credentials, CredentialsSource
from netiso.runtime.tasking import cancel_all

log = logging.getLogger(__name__)

T = TypeVar("T")

# How often the watchdog re-reads the clock to notice a lapsed Lease when no round does.
_WATCH_INTERVAL = 0.25
# Seconds between attempts while the Lease cannot be written at all (its namespace does not
# exist, or RBAC forbids Leases): someone has to act first, so a retry period's pace would
# only fill the API server's and the operator's logs.
BLOCKED_RETRY = 10.0
# The answers that mean a person must act before any round can succeed.
_BLOCKING: Final = frozenset({HTTPStatus.NOT_FOUND, HTTPStatus.FORBIDDEN})


class Leadership:
    """What this replica leads, for the write fence, the reconciler, the keeper and the tallies.

    The campaign (Elector) records here each renewal it sent and each Lease it read; everyone
    else only asks. Constructed before all of them, so each gets it through its constructor.
    """

    def __init__(
        self,
        *,
        timing: Timing,
        shards: int = 1,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.timing = timing
        self.shards = shards
        self.clock = clock
        # Per shard: monotonic time the last successful claim was sent. Replaced on every
        # change, never mutated, as the write fence reads it from the operator's thread while
        # the campaign runs in its own (ElectionThread).
        self._renewed: dict[int, float] = {}
        self._sightings: dict[int, Sighting] = {}

    def held(self) -> frozenset[int]:
        """The shards whose Lease this replica holds and has renewed within the deadline."""
        now = self.clock()
        renewed = self._renewed  # replaced, never mutated: safe to read from another thread
        return frozenset(
            shard for shard, sent in renewed.items() if now < write_deadline(sent, self.timing)
        )

    def may_write(self) -> bool:
        """True while this replica leads at least one shard."""
        return bool(self.held())

    def leads(self, namespace: str) -> bool:
        """True while this replica leads the shard of `namespace`."""
        return shard_of(namespace, self.shards) in self.held()

    def writes_status(self) -> bool:
        """True while this replica leads shard 0, whose leader alone writes profile statuses."""
        return 0 in self.held()

    def notes(self, shard: int) -> str:
        """What the shard's holder last published, as this replica last read it."""
        sighting = self._sightings.get(shard)
        return sighting.record.notes if sighting is not None else ""

    # ----- recorded by the campaign --------------------------------------------------------

    def sighting(self, shard: int) -> Sighting | None:
        """The shard's Lease as last read or written, and since when."""
        return self._sightings.get(shard)

    def saw(self, shard: int, sighting: Sighting) -> None:
        """The campaign read or wrote the shard's Lease."""
        self._sightings[shard] = sighting

    def renewed(self, shard: int, *, sent: float) -> None:
        """A claim of the shard sent at monotonic time `sent` succeeded."""
        self._renewed = {**self._renewed, shard: sent}

    def lapsed(self, shard: int) -> None:
        """The shard is no longer led (lost, or its term ran out)."""
        self._renewed = {s: sent for s, sent in self._renewed.items() if s != shard}

    def resign(self) -> None:
        """Lead nothing from now on (stopping)."""
        self._renewed = {}


class Elector:
    """Campaigns for up to `max_held` of `leadership.shards` Leases (0: any number) as
    `identity`, recording what it holds in `leadership`.

    `on_change(held)` runs whenever the set of led shards changes, on the campaign's loop (see
    `on_loop` for the operator's); `publish(shard)` is what a held shard's Lease carries with
    each renewal (sharding's tallies).
    """

    def __init__(
        self,
        *,
        leadership: Leadership,
        api: ApiClient,
        namespace: str,
        name: str,
        identity: str,
        max_held: int = 0,
        on_change: Callable[[frozenset[int]], None] = lambda held: None,
        publish: Callable[[int], str] = lambda shard: "",
    ) -> None:
        self.leadership = leadership
        self._api = api
        self._namespace = namespace
        self._name = name
        self.identity = identity
        self._timing = leadership.timing
        self.shards = leadership.shards
        self._max_held = max_held
        self._on_change = on_change
        self._publish = publish
        self._clock = leadership.clock
        # Per shard: what the last successful claim wrote (the next renewal starts from it).
        self._records: dict[int, LeaseRecord] = {}
        self._claiming: set[int] = set()
        # None until the first round: standing by is announced once too.
        self._announced: frozenset[int] | None = None
        # What blocks every round (404: no namespace, 403: no RBAC), said once, not per round.
        self._blocked: HTTPStatus | None = None
        self._tasks: list[asyncio.Task[None]] = []

    def lease_of(self, shard: int) -> str:
        """The name of the shard's Lease."""
        return lease_name(self._name, shard=shard, shards=self.shards)

    # ----- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        """Start one campaign per shard and the watchdog."""
        for shard in range(self.shards):
            self._tasks.append(
                asyncio.create_task(self._campaign(shard), name=f"netiso-lease-{shard}")
            )
        self._tasks.append(asyncio.create_task(self._watch(), name="netiso-lease-watch"))

    async def stop(self, *, release_leases: bool = True) -> None:
        """Stop campaigning; with `release_leases`, hand every held Lease back at once.

        Writing stops first (the gate closes), then the Leases are released, so a standby that
        takes one over never overlaps with a write of this replica.
        """
        await cancel_all(self._tasks)
        held = self.leadership.held()
        records = dict(self._records)
        self.leadership.resign()
        self._announce()
        if not release_leases:
            return
        for shard in sorted(held):
            record = records.get(shard)
            if record is None:
                continue
            with contextlib.suppress(ApiError):
                await leases.update_lease(
                    self._api,
                    namespace=self._namespace,
                    name=self.lease_of(shard),
                    record=release(record, now=datetime.now(UTC)),
                )
                log.info("released lease %s/%s", self._namespace, self.lease_of(shard))

    # ----- the loops ---------------------------------------------------------------------------

    async def _campaign(self, shard: int) -> None:
        while True:
            pause = self.next_round_in(shard)
            try:
                await self.round(shard)
                self._unblocked()
            except ApiError as exc:
                # Creating the Lease is the only request of a round that can answer 404 (a read
                # or update of a missing Lease is an answer): the namespace does not exist. Any
                # request of a round may answer 403: RBAC forbids Leases here.
                if exc.status in _BLOCKING:
                    self._report_blocked(HTTPStatus(exc.status), exc)
                    pause = max(pause, BLOCKED_RETRY)
                else:
                    log.warning("lease %s: %s", self.lease_of(shard), exc)
            self._announce()
            await asyncio.sleep(pause)

    def _report_blocked(self, status: HTTPStatus, exc: ApiError) -> None:
        if self._blocked == status:
            log.debug("lease in %s still blocked: %s", self._namespace, exc)
            return
        self._blocked = status
        if status == HTTPStatus.NOT_FOUND:
            log.error(
                "cannot elect a leader: the Lease namespace %s does not exist, so %s stands "
                "by and writes nothing. Fix one of: create it (kubectl create namespace %s); "
                "set NETISO_OPERATOR_NAMESPACE to the namespace that holds netiso's Lease and "
                "its netiso-leader-election Role; or, for a single replica, set "
                "NETISO_LEADER_ELECTION=false. Retrying every %g s.",
                self._namespace,
                self.identity,
                self._namespace,
                BLOCKED_RETRY,
            )
            return
        log.error(
            "cannot elect a leader: the operator may not use Leases in %s (403 Forbidden), so "
            "%s stands by and writes nothing. Fix one of: grant it get, create and update on "
            "leases (coordination.k8s.io) there, as the Role and RoleBinding "
            "netiso-leader-election of dist/install.yaml do (kubectl apply --server-side -f "
            "dist/install.yaml); or, for a single replica, set NETISO_LEADER_ELECTION=false. "
            "Retrying every %g s. The API server said: %s",
            self._namespace,
            self.identity,
            BLOCKED_RETRY,
            exc,
        )

    def _unblocked(self) -> None:
        if self._blocked == HTTPStatus.NOT_FOUND:
            log.info("the Lease namespace %s exists now", self._namespace)
        elif self._blocked == HTTPStatus.FORBIDDEN:
            log.info("the operator may use Leases in %s now", self._namespace)
        self._blocked = None

    def next_round_in(self, shard: int) -> float:
        """The retry period, or less when another holder's Lease runs out sooner: a standby
        then tries the moment it may take over rather than up to a retry period later."""
        pause = self._timing.retry_period
        sighting = self.leadership.sighting(shard)
        holder = sighting.record.holder if sighting is not None else ""
        if sighting is not None and holder and holder != self.identity:
            left = sighting.since + sighting.record.duration - self._clock()
            # Already expired: this round could not take it (its share is full), so no hurry.
            if left > 0:
                pause = min(pause, left + 0.01)
        return pause

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(_WATCH_INTERVAL)
            self._announce()

    def _announce(self) -> None:
        held = self.leadership.held()
        if held == self._announced:
            return
        before = self._announced or frozenset()
        gained, lost = held - before, before - held
        self._announced = held
        # Forget what a lapsed term wrote: the next claim must start from a fresh read.
        for shard in lost:
            self._drop(shard)
        names = ", ".join
        if gained:
            log.info(
                "%s is now the leader of %s",
                self.identity,
                names(self.lease_of(s) for s in sorted(gained)),
            )
        if lost:
            log.warning(
                "%s is no longer the leader of %s; standing by",
                self.identity,
                names(self.lease_of(s) for s in sorted(lost)),
            )
        if not held:
            log.info("%s is standing by (leads no shard)", self.identity)
        self._on_change(held)

    def _drop(self, shard: int) -> None:
        self.leadership.lapsed(shard)
        self._records.pop(shard, None)

    def _may_hold(self, shard: int) -> bool:
        # Claims in flight count: the campaigns of several shards run concurrently.
        held = self.leadership.held() | self._claiming
        return shard in held or self._max_held == 0 or len(held) < self._max_held

    async def round(self, shard: int) -> Move:
        """One attempt on one shard's Lease; returns the move made. Raises ApiError."""
        name = self.lease_of(shard)
        record = self._records.get(shard)
        if shard in self.leadership.held() and record is not None:
            # Renew straight from what we wrote last: a Conflict means someone else wrote.
            current: LeaseRecord | None = record
            move = Move.RENEW
        else:
            current = await leases.read_lease(self._api, namespace=self._namespace, name=name)
            now = self._clock()
            sighting = None
            if current is not None:
                sighting = sight(self.leadership.sighting(shard), current, now=now)
                self.leadership.saw(shard, sighting)
            move = decide(
                me=self.identity, sighting=sighting, now=now, may_hold=self._may_hold(shard)
            )
        if move == Move.WAIT:
            return move
        self._claiming.add(shard)
        try:
            return await self._claim(shard, move=move, current=current)
        finally:
            self._claiming.discard(shard)

    async def _claim(self, shard: int, *, move: Move, current: LeaseRecord | None) -> Move:
        name = self.lease_of(shard)
        wanted = claim(
            me=self.identity,
            previous=current,
            timing=self._timing,
            now=datetime.now(UTC),
            notes=self._publish(shard) if self.shards > 1 else "",
        )
        sent = self._clock()
        if move == Move.CREATE:
            written = await leases.create_lease(
                self._api, namespace=self._namespace, name=name, record=wanted
            )
        else:
            written = await leases.update_lease(
                self._api, namespace=self._namespace, name=name, record=wanted
            )
        if written is None:
            # Lost the race (or the Lease moved on under us): stop writing now.
            self._drop(shard)
            return Move.WAIT
        self.leadership.renewed(shard, sent=sent)
        self._records[shard] = written
        self.leadership.saw(shard, Sighting(record=written, since=self._clock()))
        return move


class ElectionThread:
    """Runs an Elector and its API client on an event loop of their own, in a thread.

    The operator's loop can be busy for seconds at a time (thousands of watch events, a
    take-over's re-check); a renewal queued behind that work would miss the renew deadline
    and drop leadership under load. In its own thread the campaign gets the interpreter's
    switch interval (5 ms) instead. An Elector built with `on_change=on_loop(...)` still
    reports on the operator's loop.
    """

    def __init__(self, elector: Elector, *, api: ApiClient) -> None:
        self.elector = elector
        self._api = api
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="netiso-leases", daemon=True)

    def start(self) -> None:
        """Start campaigning in the thread."""
        self._thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.call_soon(self.elector.start)
        self._loop.run_forever()

    async def stop(self, *, release_leases: bool = True) -> None:
        """Stop writing, release the held Leases (by default), close the client and the loop."""

        async def finish() -> None:
            await self.elector.stop(release_leases=release_leases)
            await self._api.close()

        if self._thread.is_alive():
            await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(finish(), self._loop))
            self._loop.call_soon_threadsafe(self._loop.stop)
            await asyncio.to_thread(self._thread.join, 10)
        if not self._thread.is_alive():
            self._loop.close()


def on_loop(
    callback: Callable[[frozenset[int]], None], *, loop: asyncio.AbstractEventLoop
) -> Callable[[frozenset[int]], None]:
    """`callback`, run on `loop` whichever thread calls it (the campaign's, in ElectionThread)."""

    def forward(held: frozenset[int]) -> None:
        loop.call_soon_threadsafe(callback, held)

    return forward


class CrossLoopCredentials:
    """The operator's credentials, for a client on another event loop (the Lease thread's).

    The source belongs to the operator's loop (Kopf publishes the login there), so it is asked
    through that loop; the answer is kept, so a renewal waits on a busy operator loop only for
    the first credentials and after a 401.
    """

    def __init__(self, source: CredentialsSource, *, loop: asyncio.AbstractEventLoop) -> None:
        self._source = source
        self._loop = loop
        self._known: Credentials | None = None

    async def current(self) -> Credentials:
        if self._known is None:
            self._known = await self._on_operator_loop(self._source.current())
        return self._known

    async def refreshed(self, stale: Credentials) -> Credentials | None:
        fresh = await self._on_operator_loop(self._source.refreshed(stale))
        if fresh is not None:
            self._known = fresh
        return fresh

    async def _on_operator_loop(self, call: Coroutine[Any, Any, T]) -> T:
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(call, self._loop))
