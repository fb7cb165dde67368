"""The operator's engine: bootstrap, watch feedback, and the reconcile of one namespace.

Reconciling layer, below the Kopf handlers and above reporting/cluster/rendering/model. No kopf
here: handlers pass watch bodies in and call `enqueue()`/`settle()`. A reconcile reads the view
(with unechoed writes overlaid), decides with the pure `assess()`, writes through cluster/, and
ends in one call to reporting.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, Final

from netiso.model.enforcement import ProbeVerdict
from netiso.observed.authorship import Signer
from netiso.observed.dependents import LabelDependents
from netiso.observed.drifts import Drift
from netiso.observed.entries import NamespaceState, Outcome, ProfileEntry, Record
from netiso.observed.foreign import is_labelled_managed
from netiso.observed.overlays import WriteOverlay
from netiso.observed.view import ClusterView, Sources, resource_version
from netiso.reachability.exposures import inventory_keys
from netiso.reconciling.assessments import Assessment, assess
from netiso.reconciling.failures import failed, written_as_reported
from netiso.rendering.environment import Templates
from netiso.reporting.events import WARNING, Events, profile_ref
from netiso.reporting.logfields import log_fields
from netiso.reporting.metrics import Metrics
from netiso.reporting.reports import Reporter
from netiso.reporting.resolutions import Resolution
from netiso.reporting.statuses import StatusFlusher, StatusWriter, Tally
from netiso.runtime import following, reading
from netiso.runtime.applying import NotConverged, StepFailed, Written, execute
from netiso.runtime.client import ApiClient
from netiso.runtime.posting import EventPoster
from netiso.runtime.queueing import WorkQueue
from netiso.runtime.tasking import cancel_all
from netiso.settings import Settings

log = logging.getLogger(__name__)

# States in which netiso's policies are in place as the profile says (drift aside).
_IN_PLACE = frozenset({NamespaceState.ISOLATED, NamespaceState.EXCEPTED, NamespaceState.DRIFTED})
# Bound on the remembered renderings; each profile generation adds at most four.
_MAX_RENDERED_HASHES = 100_000
# A listed exception's wake-up comes this long after its expiry (seconds), so the reconcile it
# asks for sees the exception expired even if the wall clock lags the event loop's a little.
_EXPIRY_MARGIN: Final = 0.05


def _utc_now() -> datetime:
    return datetime.now(UTC)


class Reconciler:
    """Runs `assess` + writes for namespaces from a coalescing queue with bounded concurrency."""

    def __init__(
        self,
        *,
        api: ApiClient,
        environment: Templates,
        settings: Settings,
        metrics: Metrics,
        view: ClusterView | None = None,
        leads: Callable[[str], bool] = lambda namespace: True,
        leading: Callable[[], bool] = lambda: True,
        on_profiles: Callable[[], None] = lambda: None,
        remote_tally: Callable[[str], Tally] | None = None,
        signer: Signer | None = None,
        enforcement: Callable[[str], ProbeVerdict | None] = lambda profile: None,
        dependencies: Callable[[str], Resolution | None] = lambda profile: None,
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        self._api = api
        # The wall clock listed exceptions expire by (a fake one in tests).
        self._clock = clock
        # Per profile: the wake-ups at the expiry of its listed exceptions still to come.
        self._expiries: dict[str, list[asyncio.TimerHandle]] = {}
        # netiso's key (drifts.owned): signs what it writes, proves what any process wrote.
        self._signer = signer
        # Which namespaces this replica writes for (leader election); a standby writes none.
        self._leads = leads
        self._leading = leading
        self._caught_up = True
        self.view = view or ClusterView()
        self._sources: Sources = self.view
        self._environment = environment
        self._settings = settings
        self._metrics = metrics
        self._queue: WorkQueue[Outcome] = WorkQueue(
            self.reconcile, on_depth=metrics.queue_depth.set
        )
        # Events yield to isolation: senders wait until no namespace is waiting.
        self._poster = EventPoster(api, idle=self._queue.idle)
        self._events = Events(self._poster)
        self._reporter = Reporter(metrics=metrics, events=self._events)
        self._statuses = StatusWriter(api, interval=settings.status_interval)
        # Told when the profiles were listed and whenever one is added, changed or deleted
        # (the admission keeper: admission/keeper.py).
        self._on_profiles = on_profiles
        # With shards: the counts the other shards' leaders publish, added to this one's.
        self._remote_tally = remote_tally
        self._flusher = StatusFlusher(
            writer=self._statuses,
            events=self._events,
            dirty=self._reporter.dirty_profiles,
            profile=self._sources.profile,
            tally=self._status_tally,
            started=lambda: self._bootstrapped and self._caught_up and self._leading(),
            interval=settings.status_interval,
            # The enforcement probe's last verdict per profile: the Enforced condition.
            enforcement=enforcement,
            # The dependency tracker's verdict per profile: the DependenciesResolved condition.
            dependencies=dependencies,
        )
        self._overlay = WriteOverlay()
        # What netiso last saw in place per namespace: tells `missing` drift from a first create.
        self._established: dict[str, frozenset[str]] = {}
        # Ownership evidence (drifts.owned): uids of the policies netiso created or replaced,
        # per namespace, and the content hashes of every rendering netiso made in this process.
        self._written_uids: dict[str, set[str]] = {}
        self._rendered_hashes: set[str] = set()
        self._profile_generations: dict[str, tuple[str, int, bool]] = {}
        # Which namespaces' findings depend on which namespace label keys: a relabelled
        # namespace re-checks only those (10,000 namespaces: never all of them).
        self._dependents = LabelDependents()
        self._ready = asyncio.Event()
        self._bootstrapped = False
        self._tasks: list[asyncio.Task[None]] = []

    # ----- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        """Start the bootstrap (listing, then workers), the Event senders and the status
        flusher."""
        self._poster.start()
        self._tasks.append(asyncio.create_task(self._bootstrap(), name="netiso-bootstrap"))
        self._tasks.append(asyncio.create_task(self._flusher.run(), name="netiso-statuses"))

    async def stop(self) -> None:
        """Cancel the workers; pending reconciles are dropped (the next start redoes them)."""
        await self._poster.stop()
        await self._queue.stop()
        await cancel_all(self._tasks)
        for handles in self._expiries.values():
            for handle in handles:
                handle.cancel()
        self._expiries.clear()

    @property
    def ready(self) -> bool:
        """True once the initial reconcile of everything known at startup has finished."""
        return self._ready.is_set()

    def _follow(self, listing: reading.Listing) -> None:
        """Follow namespaces and managed policies from the listing on, with plain watches."""
        self._tasks.extend(
            following.follow_cluster(
                self._api,
                listing,
                view=self.view,
                on_namespace=self.namespace_event,
                on_policy=self.policy_event,
                on_labels=self.labels_event,
                on_api_slices=self.api_server_moved,
            )
        )

    async def _bootstrap(self) -> None:
        """The startup reconcile and orphan sweep, then readiness.

        Nothing is reconciled until the listing is merged: a reconcile on a half-known
        namespace (its Namespace seen, its policies not yet) would write at every restart.
        Watch events that arrive meanwhile update the view and wait in the queue.
        """
        started = time.monotonic()
        listing = await following.list_into(self._api, self.view)
        self._follow(listing)
        self._on_profiles()
        listed = time.monotonic() - started
        for profile in self.view.profile_names():
            entry = self.view.profile(profile)
            if entry is not None:
                self._note_profile(entry)
        self._queue.start(self._settings.max_concurrency)
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

    def leads(self, namespace: str) -> bool:
        """True while this replica writes for `namespace` (always, without leader election)."""
        return self._leads(namespace)

    def leadership_changed(self) -> None:
        """The set of led namespaces changed: re-check every led one from this replica's own
        view and the live objects (the old leader's in-flight work is not trusted), and drop
        what is reported for the others. Before the bootstrap, its own pass does this."""
        if not self._bootstrapped:
            return
        self._tasks = [task for task in self._tasks if not task.done()]
        self._tasks.append(asyncio.create_task(self._take_over(), name="netiso-takeover"))

    async def _take_over(self) -> None:
        self._caught_up = False
        names = list(self.view.all_namespaces())
        for namespace in names:
            if not self._leads(namespace):
                self._reporter.forget(namespace)
        started = time.monotonic()
        led = [namespace for namespace in names if self._leads(namespace)]
        await self.settle(led)
        self._caught_up = True
        if led:
            log.info("re-checked %d led namespaces in %.2fs", len(led), time.monotonic() - started)

    # ----- queue -----------------------------------------------------------------------------

    def enqueue(self, namespace: str) -> None:
        """Ask for a reconcile of `namespace`; coalesces with one queued or running."""
        self._queue.enqueue(namespace)

    def enqueue_many(self, namespaces: Iterable[str]) -> None:
        """enqueue() each."""
        self._queue.enqueue_many(namespaces)

    async def settle(self, namespaces: Iterable[str]) -> dict[str, Outcome]:
        """Reconcile the namespaces and wait for a run that started after this call."""
        return await self._queue.settle(namespaces)

    # ----- watch feedback --------------------------------------------------------------------

    def namespace_event(self, body: Mapping[str, Any], *, deleted: bool) -> None:
        """A Namespace was listed, changed, left the opt-in selector or was deleted."""
        entry = self.view.namespace_seen(body, deleted=deleted)
        self.enqueue(entry.facts.name)

    def labels_event(self, body: Mapping[str, Any], *, deleted: bool) -> None:
        """Any namespace, opted in or not, was created, relabelled or deleted: re-check the
        namespaces whose owners' namespaceSelectors depend on a label key it changed."""
        changed = self.view.labels_seen(body, deleted=deleted)
        if changed:
            self.enqueue_many(self._dependents.affected(changed))

    def policy_event(self, body: Mapping[str, Any], *, deleted: bool) -> None:
        """A NetworkPolicy changed in the cluster.

        A managed one: when the event merely echoes netiso's own last write (same content, or
        the delete it made), the namespace is already as netiso left it and is not re-checked;
        anything else is re-checked at once. A foreign one re-checks its namespace's guardrails
        if the namespace is opted in (or the policy was a managed one until now).
        """
        metadata = body.get("metadata") or {}
        namespace, name = str(metadata.get("namespace", "")), str(metadata.get("name", ""))
        if not (
            is_labelled_managed(body) or (deleted and self.view.is_managed_key(namespace, name))
        ):
            _, was_managed = self.view.foreign_seen(body, deleted=deleted)
            if was_managed or self.view.namespace(namespace) is not None:
                self.enqueue(namespace)
            return
        written = self._overlay.written(namespace, name)
        live = self.view.policy_seen(body, deleted=deleted, known=written)
        if not self._overlay.is_echo(live, deleted=deleted):
            self.enqueue(live.namespace)

    def api_server_moved(self) -> None:
        """The API server's endpoints changed: re-check the namespaces whose profile allows
        egress to them (their allow follows the endpoints; the others are untouched)."""
        for name in self.view.profile_names():
            entry = self.view.profile(name)
            if entry is not None and entry.profile is not None and entry.profile.api_server.enabled:
                self.enqueue_many(self.view.namespaces_of(name))

    def profile_event(self, body: Mapping[str, Any], *, deleted: bool) -> None:
        """A profile appeared, changed, is being deleted or is gone."""
        entry = self.view.profile_seen(body, deleted=deleted)
        self._statuses.known(entry.name, entry.status, version=resource_version(body))
        if deleted:
            self._wake_at_expiries(entry.name, None)
            self._profile_generations.pop(entry.name, None)
            self._statuses.forget(entry.name)
            self._metrics.forget_profile(entry.name)
            self.enqueue_many(self.view.namespaces_of(entry.name))
            self._on_profiles()
            return
        first = entry.name not in self._profile_generations
        if not self._note_profile(entry, version=resource_version(body)):
            return  # a status or metadata write: nothing for the namespaces
        self._on_profiles()
        # A profile seen in the initial listing already had its Event; a new one gets it now.
        if entry.problems and (self.ready or not first):
            self._events.emit(
                involved=profile_ref(entry.name, entry.uid),
                reason="InvalidSpec",
                message="; ".join(entry.problems),
                type_=WARNING,
            )
        self.enqueue_many(self.view.namespaces_of(entry.name))

    def _note_profile(self, entry: ProfileEntry, *, version: str = "") -> bool:
        """Remember the profile's generation; True when it is new or its spec changed."""
        key = (entry.uid, entry.generation, entry.deleting)
        if self._profile_generations.get(entry.name) == key:
            return False
        self._profile_generations[entry.name] = key
        self._statuses.known(entry.name, entry.status, version=version)
        self._reporter.dirty_profiles.add(entry.name)
        self._wake_at_expiries(entry.name, entry)
        return True

    def _wake_at_expiries(self, name: str, entry: ProfileEntry | None) -> None:
        """Reconcile the namespace of each listed exception of the profile when it expires,
        so that it counts as weakened then, not at the next resync. Replaces the profile's
        earlier wake-ups; in memory only (a restart judges what expired meanwhile at once)."""
        for handle in self._expiries.pop(name, ()):
            handle.cancel()
        if entry is None or entry.profile is None or entry.deleting:
            return
        now = self._clock()
        upcoming = [
            (grant.namespace, grant.expires)
            for grant in entry.profile.guardrails.exceptions
            if grant.expires is not None and grant.expires > now
        ]
        if upcoming:
            loop = asyncio.get_running_loop()
            self._expiries[name] = [
                loop.call_later(self._until(expires), self._expire, namespace, expires)
                for namespace, expires in upcoming
            ]

    def _until(self, moment: datetime) -> float:
        return max(0.0, (moment - self._clock()).total_seconds()) + _EXPIRY_MARGIN

    def _expire(self, namespace: str, expires: datetime) -> None:
        if self._clock() < expires:
            # The wall clock is behind the loop's: wake again when it gets there.
            asyncio.get_running_loop().call_later(
                self._until(expires), self._expire, namespace, expires
            )
            return
        self.enqueue(namespace)

    def resync(self, profile: str) -> None:
        """Periodic re-check of a profile's namespaces (and retry of failed ones)."""
        self.enqueue_many(self._sources.namespaces_of(profile))
        self._reporter.dirty_profiles.add(profile)

    # ----- the pipeline ----------------------------------------------------------------------

    async def reconcile(self, namespace: str) -> Outcome:
        """One level-based pass over a namespace; never raises."""
        if not self._leads(namespace):
            # Another replica leads it: no writes, no report; a take-over re-checks it.
            self._reporter.forget(namespace)
            return Outcome(
                namespace=namespace,
                record=Record(profile="", state=NamespaceState.RELEASED),
                error="led by another replica",
            )
        started = time.monotonic()
        entry = self._sources.namespace(namespace)
        profile = self._sources.profile(entry.profile_name) if entry else None
        foreign = self._sources.foreign_policies(namespace)
        try:
            assessment = assess(
                name=namespace,
                entry=entry,
                profile=profile,
                live=self._overlay.over(
                    namespace, self._sources.live_policies(namespace), now=time.monotonic()
                ),
                environment=self._environment,
                protected=self._settings.protected_namespaces,
                established=self._established.get(namespace),
                written_uids=self._written_uids.get(namespace, ()),
                known_hashes=self._rendered_hashes,
                foreign=foreign,
                inventory=self._inventory,
                signer=self._signer,
                api_server=self._sources.api_server(),
                now=self._clock(),
            )
            if len(self._rendered_hashes) > _MAX_RENDERED_HASHES:
                self._rendered_hashes.clear()  # profiles x generations x roles: rarely reached
            self._rendered_hashes.update(assessment.desired_hashes)
            outcome, repaired, detected = await self._carry_out(assessment)
        except Exception as exc:  # a bug must not kill the worker; report and retry
            log.exception(
                "reconcile of namespace %s failed",
                namespace,
                extra=log_fields(
                    namespace=namespace,
                    profile=entry.profile_name if entry else "",
                    reason="ReconcileFailed",
                ),
            )
            record = Record(
                profile=entry.profile_name if entry else "",
                state=NamespaceState.ERROR,
                message=f"internal error: {exc}",
            )
            outcome = Outcome(namespace=namespace, record=record, error=str(exc))
            repaired, detected = 0, frozenset()
        self._dependents.note(
            namespace,
            inventory_keys(p.document for p in foreign) if entry is not None else frozenset(),
        )
        if outcome.record.state == NamespaceState.RELEASED:
            self._established.pop(namespace, None)
            self._written_uids.pop(namespace, None)
        self._reporter.report(outcome, entry=entry, repaired=repaired, detected=detected)
        result = "error" if outcome.error else ("changed" if outcome.written else "unchanged")
        if outcome.record.state in (NamespaceState.MISSING_PROFILE, NamespaceState.PROTECTED):
            result = "skipped" if not outcome.error else result
        self._metrics.observe_reconcile(result=result, seconds=time.monotonic() - started)
        if outcome.error:
            self._queue.failed(namespace)
        else:
            self._queue.succeeded(namespace)
        return outcome

    async def _carry_out(self, assessment: Assessment) -> tuple[Outcome, int, frozenset[Drift]]:
        """Make (or, in DryRun, only describe) the assessment's writes.

        Returns the outcome, how many drifted policies were repaired and which drifts were seen.
        """
        namespace = assessment.namespace
        changes = assessment.changes
        drifts = frozenset(changes.drifts)
        base = Record(
            profile=assessment.profile,
            state=assessment.state,
            drifts=frozenset(changes.reported_only),
            message=assessment.message,
            violations=frozenset(assessment.violations),
            exposure=assessment.weakened_exposure,
        )
        if assessment.dry_run:
            record = replace(base, pending=changes.planned(), drifts=drifts)
            return Outcome(namespace=namespace, record=record), 0, drifts
        if changes.empty:
            if assessment.state in _IN_PLACE:
                self._established[namespace] = frozenset(assessment.desired)
            return Outcome(namespace=namespace, record=base), 0, drifts
        if assessment.state != NamespaceState.RELEASED:
            self._reporter.repairing(namespace, profile=assessment.profile, drifts=drifts)
        # The echo of a write often arrives before the answer: known by its content, it does
        # not queue this namespace for another pass.
        self._overlay.sending(
            namespace,
            [(s.name, s.rendered.spec_hash if s.rendered else None) for s in changes.steps],
        )
        written: tuple[Written, ...] = ()
        try:
            written = await execute(self._api, changes.steps, signer=self._signer)
        except StepFailed as failure:
            written = failure.written
            if isinstance(failure.cause, NotConverged):
                self._metrics.count_unconverged(profile=assessment.profile)
            return failed(namespace, base=base, failure=failure, drifts=drifts), 0, drifts
        finally:
            self._remember(namespace, written)
        if assessment.state in _IN_PLACE:
            self._established[namespace] = frozenset(assessment.desired)
        else:
            self._established.pop(namespace, None)
        repaired = sum(1 for w in written if w.step.drift is not None)
        outcome = Outcome(
            namespace=namespace,
            record=base,
            written=written_as_reported(written),
        )
        return outcome, repaired, drifts

    def _inventory(self) -> Iterator[Mapping[str, str]]:
        """The labels of every namespace, opted in or not (a selector is judged on these and
        on a new unlabelled one)."""
        return self.view.namespace_labels()

    def _remember(self, namespace: str, written: Iterable[Written]) -> None:
        """Note writes in the overlay (until their echo) and as ownership evidence."""
        written = list(written)
        self._overlay.remember(
            namespace, [(w.step.name, w.live) for w in written], now=time.monotonic()
        )
        uids = {w.live.uid for w in written if w.live is not None and w.live.uid}
        if uids:
            self._written_uids.setdefault(namespace, set()).update(uids)

    def _status_tally(self, profile: str, *, dry_run: bool = False) -> Tally:
        own = self._reporter.tally(profile, dry_run=dry_run)
        return own if self._remote_tally is None else own.plus(self._remote_tally(profile))

    def mark_dirty(self, profiles: Iterable[str]) -> None:
        """Recompute these profiles' status (another shard's counts changed)."""
        self._reporter.dirty_profiles.update(profiles)

    def records(self) -> Mapping[str, Record]:
        """The current record of every known namespace."""
        return self._reporter.records()
