"""The operator's enforcement prober: one round per interval for each profile that asks for it.

Probing layer. A background loop on the leader: for every profile with `enforcementProbe`
enabled whose interval has passed since its last round (at most one round per interval per
profile, across every namespace of it), it probes one of the profile's namespaces in turn and
reports the verdict once: the `netiso_enforcement` metric, the profile's Enforced condition
(through the status flusher, `verdict()`), and an Event when the state changes. Its first
pass deletes every probe pod a crashed predecessor left.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Collection, Iterable
from typing import Protocol

from netiso import conventions
from netiso.model.enforcement import (
    EnforcementProbe,
    EnforcementState,
    ProbeReason,
    ProbeVerdict,
)
from netiso.model.profiles import Mode
from netiso.observed.entries import ProfileEntry
from netiso.probing.podspecs import Owner
from netiso.probing.rounds import RoundPlan, run_round, sweep
from netiso.reporting.events import NORMAL, WARNING, Events, profile_ref
from netiso.reporting.metrics import Metrics
from netiso.runtime.client import ApiClient, ApiError
from netiso.runtime.posting import EventPoster
from netiso.runtime.tasking import cancel_all

log = logging.getLogger(__name__)

# How often the loop looks for a due round; the intervals themselves are a minute or more.
TICK_SECONDS = 5.0


class Profiles(Protocol):
    """What the prober reads of the operator's view (observed/view.py's ClusterView)."""

    def profile_names(self) -> Collection[str]: ...
    def profile(self, name: str) -> ProfileEntry | None: ...
    def namespaces_of(self, profile: str) -> Collection[str]: ...


Rounds = Callable[[ApiClient, RoundPlan], Awaitable[ProbeVerdict]]


class Prober:
    """Runs the enforcement probe rounds the profiles ask for; start() / stop()."""

    def __init__(
        self,
        *,
        api: ApiClient,
        metrics: Metrics,
        poster: EventPoster,
        profiles: Profiles,
        leading: Callable[[], bool],
        source_namespace: str,
        on_verdict: Callable[[Iterable[str]], None],
        verdicts: dict[str, ProbeVerdict] | None = None,
        rounds: Rounds = run_round,
        tick: float = TICK_SECONDS,
    ) -> None:
        self._api = api
        self._metrics = metrics
        # Its own poster: probe Events never queue behind a burst of namespace Events.
        self._poster = poster
        self._events = Events(poster)
        self._profiles = profiles
        self._leading = leading
        self._source_namespace = source_namespace
        self._on_verdict = on_verdict
        self._rounds = rounds
        self._tick = tick
        # Shared with the status flusher (assembly.py), which reads the Enforced condition here.
        self._verdicts = verdicts if verdicts is not None else {}
        self._last: dict[str, float] = {}
        self._turns: dict[str, int] = {}
        self._swept = False
        self._tasks: list[asyncio.Task[None]] = []

    def verdict(self, profile: str) -> ProbeVerdict | None:
        """The profile's last verdict; None when its probe is off or has not run yet."""
        return self._verdicts.get(profile)

    def start(self) -> None:
        self._poster.start()
        self._tasks.append(asyncio.create_task(self._run(), name="netiso-prober"))

    async def stop(self) -> None:
        """Stop the loop; a round in flight is cancelled after deleting what it placed (its
        `finally`), and the next operator's first pass sweeps anything left."""
        await cancel_all(self._tasks)
        await self._poster.stop()

    async def _run(self) -> None:
        while True:
            try:
                await self.tick_once()
            except Exception:  # one bad round must not stop the probe for every profile
                log.exception("enforcement probe failed; retrying")
            await asyncio.sleep(self._tick)

    async def tick_once(self) -> None:
        """Run every round that is due now (one after another), if this replica leads."""
        if not self._leading():
            return
        loop = asyncio.get_running_loop()
        wanted = set()
        for name in sorted(self._profiles.profile_names()):
            entry = self._profiles.profile(name)
            probe = _probe_of(entry)
            if entry is None or probe is None:
                continue
            wanted.add(name)
            if loop.time() - self._last.get(name, float("-inf")) < probe.interval:
                continue
            self._last[name] = loop.time()
            await self._sweep_once()
            self._record(entry, await self._round(entry, probe))
        for name in set(self._verdicts) | set(self._last):
            if name not in wanted:
                self._forget(name)

    async def _sweep_once(self) -> None:
        """Delete what a crashed operator's rounds left, once per process (each round also
        sweeps its own profile's pods first)."""
        if self._swept:
            return
        self._swept = True
        with contextlib.suppress(ApiError):  # not permitted: the round will say so
            removed = await sweep(self._api)
            if removed:
                log.info("removed %d probe pod(s) an earlier round left", removed)

    async def _round(self, entry: ProfileEntry, probe: EnforcementProbe) -> ProbeVerdict:
        assert entry.profile is not None  # _probe_of returned a probe
        if entry.profile.mode == Mode.DRY_RUN:
            return ProbeVerdict(
                EnforcementState.UNAVAILABLE,
                ProbeReason.DRY_RUN,
                "the profile is in DryRun: netiso applies no policies to probe",
            )
        namespaces = sorted(
            name
            for name in self._profiles.namespaces_of(entry.name)
            if name != self._source_namespace
            and name not in conventions.ALWAYS_PROTECTED_NAMESPACES
        )
        if not namespaces:
            return ProbeVerdict(
                EnforcementState.UNAVAILABLE,
                ProbeReason.NO_NAMESPACE,
                "no namespace has opted in to this profile: there is nothing to probe",
            )
        # Each round probes the next namespace, so every one of them is probed in time.
        turn = self._turns.get(entry.name, 0)
        self._turns[entry.name] = turn + 1
        plan = RoundPlan(
            owner=Owner(entry.name, entry.uid),
            probe=probe,
            namespace=namespaces[turn % len(namespaces)],
            source_namespace=self._source_namespace,
        )
        return await self._rounds(self._api, plan)

    def _record(self, entry: ProfileEntry, verdict: ProbeVerdict) -> None:
        previous = self._verdicts.get(entry.name)
        self._verdicts[entry.name] = verdict
        self._metrics.show_enforcement(profile=entry.name, state=str(verdict.state))
        log.info(
            "enforcement probe of profile %s (namespace %s, %.1f s): %s, %s",
            entry.name,
            verdict.namespace or "-",
            verdict.seconds,
            verdict.state,
            verdict.message,
        )
        if previous is None or previous.state != verdict.state:
            self._events.emit(
                involved=profile_ref(entry.name, entry.uid),
                reason=str(verdict.reason),
                message=verdict.message,
                type_=NORMAL if verdict.state == EnforcementState.ENFORCED else WARNING,
            )
        self._on_verdict([entry.name])

    def _forget(self, name: str) -> None:
        self._last.pop(name, None)
        self._turns.pop(name, None)
        if self._verdicts.pop(name, None) is not None:
            self._metrics.forget_enforcement(profile=name)
            self._on_verdict([name])


def _probe_of(entry: ProfileEntry | None) -> EnforcementProbe | None:
    if entry is None or entry.deleting or entry.profile is None:
        return None
    probe = entry.profile.enforcement_probe
    return probe if probe.enabled else None
