"""The reconcile pipeline for one namespace: assess, then write or report.

Reconciling layer, below the Kopf handlers and above reporting/cluster/rendering/model. No kopf
here: handlers feed it index views through the `Sources` protocol and call `enqueue()`.
`assess()` is pure (the CLI shares it for `netiso diff` and `netiso status`); `Reconciler` owns
the bounded work queue, the memory of what each namespace looked like, and all reporting.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Protocol

import jinja2

from netiso import __version__, conventions
from netiso.cluster import reading
from netiso.cluster.applying import StepFailed, execute
from netiso.cluster.caching import VersionedStore
from netiso.cluster.client import ApiClient, ApiError
from netiso.cluster.drifts import Changes, DriftReason, LivePolicy, compare
from netiso.model.namespaces import NamespaceFacts
from netiso.model.profiles import Profile, ProfileError, parse_profile
from netiso.rendering.policies import RenderError, render_policies
from netiso.reporting.events import NORMAL, WARNING, EventPoster, namespace_ref, profile_ref
from netiso.reporting.metrics import Metrics, NamespaceView
from netiso.reporting.statuses import StatusWriter, Tally, profile_status, same_status
from netiso.settings import Settings

log = logging.getLogger(__name__)


class NamespaceState(StrEnum):
    """Where a namespace stands. RELEASED: not (or no longer) opted in; no series, no status."""

    ISOLATED = "isolated"
    DRIFTED = "drifted"
    DRY_RUN = "dry_run"
    ERROR = "error"
    MISSING_PROFILE = "missing_profile"
    PROTECTED = "protected"
    RELEASED = "released"


@dataclass(frozen=True)
class ProfileEntry:
    """A profile as the operator knows it: parsed, or the problems that stop it parsing."""

    name: str
    uid: str = ""
    generation: int = 0
    profile: Profile | None = None
    problems: tuple[str, ...] = ()
    deleting: bool = False
    orphan_on_delete: bool = False
    status: Mapping[str, Any] | None = None

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> ProfileEntry:
        """Parse an IsolationProfile object; never raises."""
        metadata = body.get("metadata") or {}
        spec = body.get("spec") or {}
        base = cls(
            name=str(metadata.get("name", "")),
            uid=str(metadata.get("uid", "")),
            generation=int(metadata.get("generation") or 0),
            deleting=bool(metadata.get("deletionTimestamp")),
            orphan_on_delete=isinstance(spec, Mapping) and spec.get("onDelete") == "Orphan",
            status=body.get("status") or None,
        )
        try:
            return replace(base, profile=parse_profile(body))
        except ProfileError as exc:
            return replace(base, problems=tuple(str(p) for p in exc.problems))


@dataclass(frozen=True)
class NamespaceEntry:
    """An opted-in namespace: its facts, the profile its label names, and whether it is going."""

    facts: NamespaceFacts
    profile_name: str
    uid: str = ""
    terminating: bool = False

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> NamespaceEntry:
        """Summarise a Namespace object."""
        metadata = body.get("metadata") or {}
        labels = {str(k): str(v) for k, v in (metadata.get("labels") or {}).items()}
        name = str(metadata.get("name", ""))
        return cls(
            facts=NamespaceFacts(name=name, labels=labels),
            profile_name=labels.get(conventions.PROFILE_LABEL, ""),
            uid=str(metadata.get("uid", "")),
            terminating=bool(metadata.get("deletionTimestamp"))
            or (body.get("status") or {}).get("phase") == "Terminating",
        )


class Sources(Protocol):
    """Read-only views of the watched objects (Kopf indexes in the operator)."""

    def namespace(self, name: str) -> NamespaceEntry | None: ...
    def profile(self, name: str) -> ProfileEntry | None: ...
    def live_policies(self, namespace: str) -> Sequence[LivePolicy]: ...
    def namespaces_of(self, profile: str) -> Collection[str]: ...
    def all_namespaces(self) -> Collection[str]: ...


class ClusterView:
    """The operator's picture of the cluster: opted-in namespaces, profiles, managed policies.

    Implements `Sources`. Fed by the watch events the handlers receive and, once at startup,
    by a listing of each kind (`merge_listing`), merged by resourceVersion. Kopf's own indexes
    are not used: Kopf holds every object's first event until all indexed objects are indexed,
    and that wait grows with the square of the object count (151 s to start with 1,000
    namespaces and their 4,000 policies).
    """

    def __init__(self) -> None:
        self._namespaces: VersionedStore[str, NamespaceEntry] = VersionedStore()
        self._profiles: VersionedStore[str, ProfileEntry] = VersionedStore()
        self._policies: VersionedStore[tuple[str, str], LivePolicy] = VersionedStore()
        self._by_profile: dict[str, set[str]] = {}
        self._by_namespace: dict[str, dict[str, LivePolicy]] = {}

    # Sources
    def namespace(self, name: str) -> NamespaceEntry | None:
        return self._namespaces.get(name)

    def profile(self, name: str) -> ProfileEntry | None:
        return self._profiles.get(name)

    def live_policies(self, namespace: str) -> Sequence[LivePolicy]:
        return list(self._by_namespace.get(namespace, {}).values())

    def namespaces_of(self, profile: str) -> Collection[str]:
        return list(self._by_profile.get(profile, ()))

    def all_namespaces(self) -> Collection[str]:
        return set(self._namespaces.keys()) | set(self._by_namespace)

    def profile_names(self) -> Collection[str]:
        return list(self._profiles.keys())

    # feeding
    def namespace_seen(self, body: Mapping[str, Any], *, deleted: bool) -> NamespaceEntry:
        """Apply a Namespace watch event."""
        entry = NamespaceEntry.from_body(body)
        name = entry.facts.name
        old = self._namespaces.observe(name, _rv(body), None if deleted else entry)
        if old is not None:
            self._unlink(self._by_profile, old.profile_name, name)
        if not deleted:
            self._by_profile.setdefault(entry.profile_name, set()).add(name)
        return entry

    def policy_seen(self, body: Mapping[str, Any], *, deleted: bool) -> LivePolicy:
        """Apply a managed NetworkPolicy watch event."""
        live = LivePolicy.from_body(body)
        self._policies.observe((live.namespace, live.name), _rv(body), None if deleted else live)
        if deleted:
            policies = self._by_namespace.get(live.namespace)
            if policies is not None:
                policies.pop(live.name, None)
                if not policies:
                    del self._by_namespace[live.namespace]
        else:
            self._by_namespace.setdefault(live.namespace, {})[live.name] = live
        return live

    def profile_seen(self, body: Mapping[str, Any], *, deleted: bool) -> ProfileEntry:
        """Apply an IsolationProfile watch event."""
        entry = ProfileEntry.from_body(body)
        self._profiles.observe(entry.name, _rv(body), None if deleted else entry)
        return entry

    def merge_listing(
        self,
        *,
        namespaces: Iterable[tuple[str, NamespaceEntry]],
        policies: Iterable[tuple[str, LivePolicy]],
        profiles: Iterable[tuple[str, ProfileEntry]],
    ) -> None:
        """Merge the startup listings, as (resourceVersion, summary) pairs, then rebuild the
        secondary indexes once."""
        self._namespaces.merge_listing((e.facts.name, rv, e) for rv, e in namespaces)
        self._profiles.merge_listing((e.name, rv, e) for rv, e in profiles)
        self._policies.merge_listing(((p.namespace, p.name), rv, p) for rv, p in policies)
        self._by_profile = {}
        for entry in self._namespaces.values():
            self._by_profile.setdefault(entry.profile_name, set()).add(entry.facts.name)
        self._by_namespace = {}
        for live in self._policies.values():
            self._by_namespace.setdefault(live.namespace, {})[live.name] = live

    @staticmethod
    def _unlink(index: dict[str, set[str]], key: str, value: str) -> None:
        members = index.get(key)
        if members is not None:
            members.discard(value)
            if not members:
                del index[key]


def _rv(body: Mapping[str, Any]) -> str:
    return str((body.get("metadata") or {}).get("resourceVersion", ""))


@dataclass(frozen=True)
class Assessment:
    """What a namespace should look like and the writes that would get it there."""

    namespace: str
    profile: str
    state: NamespaceState
    changes: Changes = field(default_factory=Changes)
    dry_run: bool = False
    message: str = ""
    desired: tuple[str, ...] = ()


def assess(
    *,
    name: str,
    entry: NamespaceEntry | None,
    profile: ProfileEntry | None,
    live: Sequence[LivePolicy],
    environment: jinja2.Environment,
    protected: Collection[str],
    established: Iterable[str] | None = None,
) -> Assessment:
    """Decide, without I/O, what netiso wants for one namespace.

    Fail-closed rules: a missing, invalid or unrenderable profile changes nothing in the
    namespace (whatever isolation it has stays), so a typo can never drop isolation. A
    namespace that is no longer opted in, or is protected, loses all managed policies.
    """
    if entry is None or entry.facts.name in protected:
        if entry is not None and entry.terminating:
            return Assessment(namespace=name, profile="", state=NamespaceState.RELEASED)
        changes = compare(desired=(), live=live, repair=True)
        if entry is None:
            return Assessment(
                namespace=name, profile="", state=NamespaceState.RELEASED, changes=changes
            )
        return Assessment(
            namespace=name,
            profile=entry.profile_name,
            state=NamespaceState.PROTECTED,
            changes=changes,
            message=f"namespace {name} is protected and is never isolated",
        )
    if entry.terminating:
        return Assessment(namespace=name, profile=entry.profile_name, state=NamespaceState.RELEASED)
    profile_name = entry.profile_name
    if profile is None or (profile.deleting and profile.orphan_on_delete):
        return Assessment(
            namespace=name,
            profile=profile_name,
            state=NamespaceState.MISSING_PROFILE,
            message=f"IsolationProfile {profile_name!r} does not exist; "
            "existing managed policies are kept as they are",
        )
    if profile.problems or profile.profile is None:
        return Assessment(
            namespace=name,
            profile=profile_name,
            state=NamespaceState.ERROR,
            message=f"IsolationProfile {profile_name!r} is invalid: " + "; ".join(profile.problems),
        )
    if profile.deleting:
        changes = compare(desired=(), live=live, repair=True)
        return Assessment(
            namespace=name, profile=profile_name, state=NamespaceState.RELEASED, changes=changes
        )
    spec = profile.profile
    try:
        desired = render_policies(environment, spec, entry.facts)
    except RenderError as exc:
        return Assessment(
            namespace=name,
            profile=profile_name,
            state=NamespaceState.ERROR,
            message=f"cannot render profile {profile_name!r}: {exc}",
        )
    repair = str(spec.drift_action) == "Repair"
    changes = compare(desired=desired, live=live, repair=repair, established=established)
    dry_run = str(spec.mode) == "DryRun"
    if dry_run:
        state = NamespaceState.DRY_RUN
    elif changes.reported_only:
        state = NamespaceState.DRIFTED
    else:
        state = NamespaceState.ISOLATED
    return Assessment(
        namespace=name,
        profile=profile_name,
        state=state,
        changes=changes,
        dry_run=dry_run,
        desired=tuple(p.name for p in desired),
    )


@dataclass(frozen=True)
class Record:
    """What netiso last concluded about a namespace; drives transition-only Events."""

    profile: str
    state: NamespaceState
    drifts: frozenset[tuple[str, str]] = frozenset()
    pending: tuple[str, ...] = ()
    message: str = ""


@dataclass(frozen=True)
class Outcome:
    """The result of one reconcile."""

    namespace: str
    record: Record
    written: tuple[str, ...] = ()
    error: str = ""


_OVERLAY_TTL = 30.0
_NOTHING = object()
_MAX_RETRY_DELAY = 60.0


class Reconciler:
    """Runs `assess` + writes for namespaces from a coalescing queue with bounded concurrency."""

    def __init__(
        self,
        *,
        api: ApiClient,
        environment: jinja2.Environment,
        settings: Settings,
        metrics: Metrics,
        view: ClusterView | None = None,
    ) -> None:
        self._api = api
        self.view = view or ClusterView()
        self._sources: Sources = self.view
        self._environment = environment
        self._settings = settings
        self._metrics = metrics
        self._events = EventPoster(api)
        self._statuses = StatusWriter(api, interval=settings.status_interval)
        self._queue: asyncio.Queue[str] = asyncio.Queue()
        self._queued: set[str] = set()
        self._running: set[str] = set()
        self._dirty: set[str] = set()
        self._waiters: dict[str, list[asyncio.Future[Outcome]]] = {}
        self._records: dict[str, Record] = {}
        self._established: dict[str, frozenset[str]] = {}
        # Writes whose watch event has not come back yet: namespace -> name -> (live|None, t).
        self._overlay: dict[str, dict[str, tuple[LivePolicy | None, float]]] = {}
        self._failures: dict[str, int] = {}
        self._profile_generations: dict[str, tuple[str, int, bool]] = {}
        self._dirty_profiles: set[str] = set()
        self._ready = asyncio.Event()
        self._bootstrapped = False
        self._tasks: list[asyncio.Task[None]] = []

    # ----- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        """Start the bootstrap (listing, then workers), the Event senders and the status
        flusher."""
        self._events.start()
        self._tasks.append(asyncio.create_task(self._bootstrap(), name="netiso-bootstrap"))
        self._tasks.append(asyncio.create_task(self._flush_statuses(), name="netiso-statuses"))

    async def stop(self) -> None:
        """Cancel the workers; pending reconciles are dropped (the next start redoes them)."""
        await self._events.stop()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()

    @property
    def ready(self) -> bool:
        """True once the initial reconcile of everything known at startup has finished."""
        return self._ready.is_set()

    async def _list_everything(self) -> None:
        """List opted-in namespaces, managed policies and profiles into the view, retrying.

        Each page is summarised as it arrives, so at most one page of full objects is in
        memory: holding 40,000 policy bodies at once cost 200 MiB at 10,000 namespaces.
        """
        delay = 1.0
        while True:
            try:
                namespaces = [
                    (_rv(body), NamespaceEntry.from_body(body))
                    async for body in reading.list_all(
                        self._api, reading.NAMESPACES, label_selector=reading.OPTED_IN_SELECTOR
                    )
                ]
                policies = [
                    (_rv(body), LivePolicy.from_body(body))
                    async for body in reading.list_all(
                        self._api, reading.ALL_POLICIES, label_selector=reading.MANAGED_SELECTOR
                    )
                ]
                profiles = [
                    (_rv(body), ProfileEntry.from_body(body))
                    async for body in reading.list_all(self._api, reading.PROFILES)
                ]
            except ApiError as exc:
                log.warning("initial listing failed, retrying in %.0fs: %s", delay, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, _MAX_RETRY_DELAY)
                continue
            self.view.merge_listing(namespaces=namespaces, policies=policies, profiles=profiles)
            return

    async def _bootstrap(self) -> None:
        """The startup reconcile and orphan sweep, then readiness.

        Nothing is reconciled until the listing is merged: a reconcile on a half-known
        namespace (its Namespace seen, its policies not yet) would write at every restart.
        Watch events that arrive meanwhile update the view and wait in the queue.
        """
        started = time.monotonic()
        await self._list_everything()
        listed = time.monotonic() - started
        for profile in self.view.profile_names():
            entry = self.view.profile(profile)
            if entry is not None:
                self._note_profile(entry)
        for index in range(self._settings.max_concurrency):
            self._tasks.append(asyncio.create_task(self._worker(), name=f"netiso-worker-{index}"))
        names = list(self.view.all_namespaces())
        self._bootstrapped = True
        await self.settle(names)
        self._ready.set()
        self._metrics.ready.set(1)
        log.info(
            "initial reconcile of %d namespaces done in %.2fs (listing %.2fs)",
            len(names),
            time.monotonic() - started,
            listed,
        )

    # ----- queue -----------------------------------------------------------------------------

    def enqueue(self, namespace: str) -> None:
        """Ask for a reconcile of `namespace`; coalesces with one queued or running."""
        if namespace in self._queued:
            return
        if namespace in self._running:
            self._dirty.add(namespace)
            return
        self._queued.add(namespace)
        self._queue.put_nowait(namespace)
        self._metrics.queue_depth.set(len(self._queued))

    def enqueue_many(self, namespaces: Iterable[str]) -> None:
        """enqueue() each."""
        for namespace in namespaces:
            self.enqueue(namespace)

    async def settle(self, namespaces: Iterable[str]) -> dict[str, Outcome]:
        """Reconcile the namespaces and wait for a run that started after this call."""
        loop = asyncio.get_running_loop()
        futures: dict[str, asyncio.Future[Outcome]] = {}
        for namespace in set(namespaces):
            future: asyncio.Future[Outcome] = loop.create_future()
            self._waiters.setdefault(namespace, []).append(future)
            futures[namespace] = future
            self.enqueue(namespace)
        if not futures:
            return {}
        await asyncio.gather(*futures.values())
        return {namespace: future.result() for namespace, future in futures.items()}

    async def _worker(self) -> None:
        while True:
            namespace = await self._queue.get()
            self._queued.discard(namespace)
            self._metrics.queue_depth.set(len(self._queued))
            self._running.add(namespace)
            try:
                outcome = await self.reconcile(namespace)
            finally:
                self._running.discard(namespace)
            if namespace in self._dirty:
                self._dirty.discard(namespace)
                self.enqueue(namespace)
                continue
            for future in self._waiters.pop(namespace, []):
                if not future.done():
                    future.set_result(outcome)

    def _retry_later(self, namespace: str) -> None:
        failures = self._failures.get(namespace, 0) + 1
        self._failures[namespace] = failures
        delay = min(2.0 ** (failures - 1), _MAX_RETRY_DELAY)
        asyncio.get_running_loop().call_later(delay, self.enqueue, namespace)

    # ----- watch feedback --------------------------------------------------------------------

    def namespace_event(self, body: Mapping[str, Any], *, deleted: bool) -> None:
        """A Namespace was listed, changed, left the opt-in selector or was deleted."""
        entry = self.view.namespace_seen(body, deleted=deleted)
        self.enqueue(entry.facts.name)

    def policy_event(self, body: Mapping[str, Any], *, deleted: bool) -> None:
        """A managed policy changed in the cluster.

        When the event merely echoes netiso's own last write (same content, or the delete it
        made), the namespace is already as netiso left it and is not re-checked; anything else
        is re-checked at once. Either way the overlay entry goes: the view has caught up.
        """
        live = self.view.policy_seen(body, deleted=deleted)
        overlay = self._overlay.get(live.namespace)
        written = overlay.pop(live.name, _NOTHING) if overlay is not None else _NOTHING
        if overlay is not None and not overlay:
            del self._overlay[live.namespace]
        if written is not _NOTHING:
            echo = (
                written is None
                if deleted
                else (
                    isinstance(written, LivePolicy)
                    and not live.edited
                    and live.actual_hash == written.actual_hash
                )
            )
            if echo:
                return
        self.enqueue(live.namespace)

    def profile_event(self, body: Mapping[str, Any], *, deleted: bool) -> None:
        """A profile appeared, changed, is being deleted or is gone."""
        entry = self.view.profile_seen(body, deleted=deleted)
        self._statuses.known(entry.name, entry.status)
        if deleted:
            self._profile_generations.pop(entry.name, None)
            self._statuses.forget(entry.name)
            self.enqueue_many(self.view.namespaces_of(entry.name))
            return
        first = entry.name not in self._profile_generations
        if not self._note_profile(entry):
            return  # a status or metadata write: nothing for the namespaces
        # A profile seen in the initial listing already had its Event; a new one gets it now.
        if entry.problems and (self.ready or not first):
            self._events.emit(
                involved=profile_ref(entry.name, entry.uid),
                reason="InvalidSpec",
                message="; ".join(entry.problems),
                type_=WARNING,
            )
        self.enqueue_many(self.view.namespaces_of(entry.name))

    def _note_profile(self, entry: ProfileEntry) -> bool:
        """Remember the profile's generation; True when it is new or its spec changed."""
        key = (entry.uid, entry.generation, entry.deleting)
        if self._profile_generations.get(entry.name) == key:
            return False
        self._profile_generations[entry.name] = key
        self._statuses.known(entry.name, entry.status)
        self._dirty_profiles.add(entry.name)
        return True

    def resync(self, profile: str) -> None:
        """Periodic re-check of a profile's namespaces (and retry of failed ones)."""
        self.enqueue_many(self._sources.namespaces_of(profile))
        self._dirty_profiles.add(profile)

    # ----- the pipeline ----------------------------------------------------------------------

    def _live(self, namespace: str) -> list[LivePolicy]:
        live = {p.name: p for p in self._sources.live_policies(namespace)}
        overlay = self._overlay.get(namespace)
        if overlay:
            now = time.monotonic()
            for name, (policy, written_at) in list(overlay.items()):
                if now - written_at > _OVERLAY_TTL:
                    del overlay[name]
                elif policy is None:
                    live.pop(name, None)
                else:
                    live[name] = policy
            if not overlay:
                del self._overlay[namespace]
        return list(live.values())

    async def reconcile(self, namespace: str) -> Outcome:
        """One level-based pass over a namespace; never raises."""
        started = time.monotonic()
        entry = self._sources.namespace(namespace)
        profile = self._sources.profile(entry.profile_name) if entry else None
        try:
            assessment = assess(
                name=namespace,
                entry=entry,
                profile=profile,
                live=self._live(namespace),
                environment=self._environment,
                protected=self._settings.protected_namespaces,
                established=self._established.get(namespace),
            )
            outcome = await self._carry_out(assessment, entry=entry, profile=profile)
        except Exception as exc:  # a bug must not kill the worker; report and retry
            log.exception("reconcile of namespace %s failed", namespace)
            record = Record(
                profile=entry.profile_name if entry else "",
                state=NamespaceState.ERROR,
                message=f"internal error: {exc}",
            )
            outcome = Outcome(namespace=namespace, record=record, error=str(exc))
            await self._report(outcome, entry=entry, repaired=0)
        result = "error" if outcome.error else ("changed" if outcome.written else "unchanged")
        if outcome.record.state in (NamespaceState.MISSING_PROFILE, NamespaceState.PROTECTED):
            result = "skipped" if not outcome.error else result
        self._metrics.observe_reconcile(result=result, seconds=time.monotonic() - started)
        if outcome.error:
            self._retry_later(namespace)
        else:
            self._failures.pop(namespace, None)
        return outcome

    async def _carry_out(
        self, assessment: Assessment, *, entry: NamespaceEntry | None, profile: ProfileEntry | None
    ) -> Outcome:
        namespace = assessment.namespace
        changes = assessment.changes
        drifts = frozenset((d.policy, str(d.reason)) for d in changes.drifts)
        base = Record(
            profile=assessment.profile,
            state=assessment.state,
            drifts=frozenset((d.policy, str(d.reason)) for d in changes.reported_only),
            message=assessment.message,
        )
        if assessment.dry_run:
            record = replace(base, pending=changes.describe(), drifts=drifts)
            outcome = Outcome(namespace=namespace, record=record)
            await self._report(outcome, entry=entry, repaired=0, detected=drifts)
            return outcome
        if changes.empty:
            if assessment.state in (NamespaceState.ISOLATED, NamespaceState.DRIFTED):
                self._established[namespace] = frozenset(assessment.desired)
            outcome = Outcome(namespace=namespace, record=base)
            await self._report(outcome, entry=entry, repaired=0, detected=drifts)
            return outcome
        # Show drift while the repair is under way, so it is visible even when quickly fixed.
        if drifts and str(assessment.state) != "released":
            self._metrics.show_namespace(
                namespace, NamespaceView(profile=assessment.profile, state="drifted", drifts=drifts)
            )
        try:
            written = await execute(self._api, changes.steps)
        except StepFailed as failure:
            self._remember_writes(namespace, [(w.step.name, w.live) for w in failure.written])
            record = replace(
                base,
                state=NamespaceState.ERROR,
                message=f"{failure.step.action} {failure.step.name} failed: {failure.cause}",
                drifts=drifts,
            )
            outcome = Outcome(
                namespace=namespace,
                record=record,
                written=tuple(f"{w.step.action} {w.step.name}" for w in failure.written),
                error=str(failure),
            )
            await self._report(outcome, entry=entry, repaired=0, detected=drifts)
            return outcome
        self._remember_writes(namespace, [(w.step.name, w.live) for w in written])
        if assessment.state in (NamespaceState.ISOLATED, NamespaceState.DRIFTED):
            self._established[namespace] = frozenset(assessment.desired)
        else:
            self._established.pop(namespace, None)
        repaired = sum(1 for w in written if w.step.drift is not None)
        outcome = Outcome(
            namespace=namespace,
            record=base,
            written=tuple(f"{w.step.action} {w.step.name}" for w in written),
        )
        await self._report(outcome, entry=entry, repaired=repaired, detected=drifts)
        return outcome

    def _remember_writes(
        self, namespace: str, writes: Iterable[tuple[str, LivePolicy | None]]
    ) -> None:
        now = time.monotonic()
        overlay = self._overlay.setdefault(namespace, {})
        for name, live in writes:
            overlay[name] = (live, now)

    # ----- reporting -------------------------------------------------------------------------

    async def _report(
        self,
        outcome: Outcome,
        *,
        entry: NamespaceEntry | None,
        repaired: int,
        detected: frozenset[tuple[str, str]] = frozenset(),
    ) -> None:
        namespace = outcome.namespace
        new = outcome.record
        old = self._records.get(namespace)
        profile = new.profile or (old.profile if old else "")
        if old is not None and old.profile:
            self._dirty_profiles.add(old.profile)
        if new.profile:
            self._dirty_profiles.add(new.profile)

        # Metrics first: they are what alerts read.
        fresh = detected - (old.drifts if old else frozenset())
        if fresh:
            self._metrics.count_drifts(profile=profile, reasons=[r for _, r in fresh])
        self._metrics.count_repairs(profile=profile, repaired=repaired)
        if new.state == NamespaceState.RELEASED:
            self._metrics.show_namespace(namespace, None)
            self._metrics.show_pending(namespace, profile, ())
            self._records.pop(namespace, None)
            self._established.pop(namespace, None)
        else:
            self._metrics.show_namespace(
                namespace,
                NamespaceView(profile=new.profile, state=str(new.state), drifts=new.drifts),
            )
            self._metrics.show_pending(
                namespace, new.profile, [p.split(" ", 1)[0] for p in new.pending]
            )
            self._records[namespace] = new

        if new.state == NamespaceState.ERROR and (old is None or old.message != new.message):
            log.warning("namespace %s: %s", namespace, new.message)

        # Events: only on transitions, never on a steady state.
        uid = entry.uid if entry else ""
        for reason, type_, message in _transition_events(old, new, outcome, fresh, repaired):
            self._events.emit(
                involved=namespace_ref(namespace, uid), reason=reason, message=message, type_=type_
            )

    async def _flush_statuses(self) -> None:
        while True:
            await asyncio.sleep(min(1.0, max(self._settings.status_interval, 0.1)))
            if not self._bootstrapped:
                continue
            try:
                await self._flush_once()
            except Exception:  # one bad profile must not stop status for all of them
                log.exception("writing profile statuses failed; retrying")

    async def _flush_once(self) -> None:
        for name in list(self._dirty_profiles):
            entry = self._sources.profile(name)
            if entry is None or entry.deleting:
                self._dirty_profiles.discard(name)
                continue
            status = profile_status(
                generation=entry.generation,
                tally=self.tally(
                    name, dry_run=bool(entry.profile and entry.profile.mode == "DryRun")
                ),
                problems=entry.problems,
                previous=self._statuses.previous(name) or entry.status,
                now=datetime.now(UTC),
            )
            if not self._statuses.due(name, status):
                if same_status(self._statuses.previous(name) or entry.status, status):
                    self._dirty_profiles.discard(name)
                continue
            before = self._statuses.previous(name) or entry.status
            if await self._statuses.write(name, status):
                self._dirty_profiles.discard(name)
                await self._ready_event(entry, before, status)

    async def _ready_event(
        self, entry: ProfileEntry, before: Mapping[str, Any] | None, after: Mapping[str, Any]
    ) -> None:
        """One Event on the profile each time its Ready condition flips."""
        old = _condition_of(before, "Ready")
        new = _condition_of(after, "Ready")
        if new is None or (old is not None and old.get("status") == new.get("status")):
            return
        self._events.emit(
            involved=profile_ref(entry.name, entry.uid),
            reason=str(new["reason"]),
            message=str(new["message"]),
            type_=NORMAL if new["status"] == "True" else WARNING,
        )

    def tally(self, profile: str, *, dry_run: bool = False) -> Tally:
        """Count a profile's namespaces by state (for status and `netiso status`)."""
        namespaces = in_sync = drifted = errors = pending = 0
        for record in self._records.values():
            if record.profile != profile:
                continue
            namespaces += 1
            in_sync += record.state == NamespaceState.ISOLATED
            drifted += record.state == NamespaceState.DRIFTED
            errors += record.state == NamespaceState.ERROR
            pending += len(record.pending)
        return Tally(
            namespaces=namespaces,
            in_sync=in_sync,
            drifted=drifted,
            errors=errors,
            pending_changes=pending,
            dry_run=dry_run,
        )

    def records(self) -> Mapping[str, Record]:
        """The current record of every known namespace."""
        return dict(self._records)


def _condition_of(status: Mapping[str, Any] | None, type_: str) -> Mapping[str, Any] | None:
    for condition in (status or {}).get("conditions") or []:
        if isinstance(condition, Mapping) and condition.get("type") == type_:
            return condition
    return None


def _transition_events(
    old: Record | None,
    new: Record,
    outcome: Outcome,
    fresh_drifts: frozenset[tuple[str, str]],
    repaired: int,
) -> list[tuple[str, str, str]]:
    """(reason, type, message) for each Event a change from `old` to `new` deserves."""
    events: list[tuple[str, str, str]] = []
    state = new.state
    changed_state = old is None or old.state != state or old.profile != new.profile
    if fresh_drifts:
        text = ", ".join(f"{policy} {reason}" for policy, reason in sorted(fresh_drifts))
        events.append(("DriftDetected", WARNING, f"managed policies drifted: {text}"))
    if repaired:
        events.append(("DriftRepaired", NORMAL, f"repaired {repaired} drifted policy(ies)"))
    if state == NamespaceState.ISOLATED:
        what = "; ".join(outcome.written) if outcome.written else "policies already in place"
        # A profile edit updating an isolated namespace posts nothing here: one Event per
        # namespace would double fan-out's writes, and the profile's status tells the roll-out.
        if changed_state and (outcome.written or old is not None):
            events.append(("Isolated", NORMAL, f"isolated by profile {new.profile}: {what}"))
    elif state == NamespaceState.RELEASED and (outcome.written or old is not None):
        what = "; ".join(outcome.written) if outcome.written else "no managed policies left"
        events.append(("OptedOut", NORMAL, f"no longer isolated by netiso: {what}"))
    elif state == NamespaceState.MISSING_PROFILE and changed_state:
        events.append(("ProfileMissing", WARNING, new.message))
    elif state == NamespaceState.PROTECTED and changed_state:
        events.append(("Protected", WARNING, new.message))
    elif state == NamespaceState.ERROR and (changed_state or (old and old.message != new.message)):
        events.append(("ReconcileFailed", WARNING, new.message))
    elif state == NamespaceState.DRY_RUN and (
        changed_state or (old and old.pending != new.pending)
    ):
        pending = "; ".join(f"would {p}" for p in new.pending) or "no changes pending"
        events.append(("DryRun", NORMAL, f"profile {new.profile} is DryRun: {pending}"))
    elif state == NamespaceState.DRIFTED and changed_state and not fresh_drifts:
        events.append(("DriftDetected", WARNING, "managed policies drifted (Report mode)"))
    return events


__all__ = [
    "Assessment",
    "DriftReason",
    "NamespaceEntry",
    "NamespaceState",
    "Outcome",
    "ProfileEntry",
    "Reconciler",
    "Record",
    "Sources",
    "__version__",
    "assess",
]
