"""The operator's dependency tracker: whether each profile's DNS, gateway and monitoring pods
are there, kept in step by watches of only the namespaces profiles name.

Tracking layer. For every collection some profile's checks read (observed/providers.py:
`needs_of`), one list and then one watch, from the moment a profile names it until none does;
each event updates the in-memory index, and only the profiles that read a collection that
changed are judged again (reachability/dependencies.py, the checks `netiso doctor` runs). A
verdict that changed is reported once: the `netiso_dependency_unresolved` metric, the
DependenciesResolved condition (through the status flusher, `resolution()`), and an Event
when the condition turns False or recovers. Nothing is written while nothing changes.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from typing import Any, Final, Protocol

from netiso.model.profiles import Profile
from netiso.observed.entries import ProfileEntry
from netiso.observed.providers import Need, Provided, ProviderIndex, needs_of
from netiso.reachability.dependencies import dependency_findings
from netiso.reporting.events import NORMAL, WARNING, Events, profile_ref
from netiso.reporting.metrics import Metrics
from netiso.reporting.resolutions import CONDITION, Resolution, resolution_of, unreadable
from netiso.runtime import reading, watching
from netiso.runtime.client import ApiClient, ApiError
from netiso.runtime.errors import Forbidden
from netiso.runtime.posting import EventPoster
from netiso.runtime.queueing import MAX_RETRY_DELAY
from netiso.runtime.tasking import cancel_all

log = logging.getLogger(__name__)

# How often the tracker looks at the profiles and the changed collections: a verdict follows
# the cluster within about this long, and a burst of pod events costs one judgement.
INTERVAL_SECONDS: Final = 1.0
# Finished pods serve nothing: the server leaves them out, and one that finishes arrives as
# a deletion (https://kubernetes.io/docs/concepts/overview/working-with-objects/field-selectors/).
RUNNING_PODS: Final = "status.phase!=Succeeded,status.phase!=Failed"


class Profiles(Protocol):
    """What the tracker reads of the operator's view (observed/view.py's ClusterView)."""

    def profile_names(self) -> Collection[str]: ...
    def profile(self, name: str) -> ProfileEntry | None: ...


def collection_path(need: Need) -> str:
    """The REST path of the collection a need names."""
    if need.kind is Provided.SLICES:
        return f"/apis/discovery.k8s.io/v1/namespaces/{need.namespace}/endpointslices"
    return f"/api/v1/namespaces/{need.namespace}/{need.kind}"


def watched(need: Need) -> watching.Watched:
    return watching.Watched(
        kind=f"{need.kind} in {need.namespace}",
        path=collection_path(need),
        label_selector="",
        field_selector=RUNNING_PODS if need.kind is Provided.PODS else "",
    )


class DependencyTracker:
    """Keeps every profile's DependenciesResolved verdict; start() / stop().

    `api` reads and watches only (stop() closes it); Events go through `poster`.
    """

    def __init__(
        self,
        *,
        api: ApiClient,
        metrics: Metrics,
        poster: EventPoster,
        profiles: Profiles,
        leading: Callable[[], bool],
        on_change: Callable[[Iterable[str]], None],
        resolutions: dict[str, Resolution] | None = None,
        interval: float = INTERVAL_SECONDS,
    ) -> None:
        self._api = api
        self._metrics = metrics
        # Its own poster: these Events never queue behind a burst of namespace Events.
        self._poster = poster
        self._events = Events(poster)
        self._profiles = profiles
        self._leading = leading
        self._on_change = on_change
        self._interval = interval
        # Shared with the status flusher (assembly.py), which reads the condition here.
        self._resolutions = resolutions if resolutions is not None else {}
        self._index = ProviderIndex()
        self._follows: dict[Need, asyncio.Task[None]] = {}
        # Collections whose facts changed (or whose reading failed) since the last pass.
        self._changed: set[Need] = set()
        # Why a collection cannot be read (403), until a listing succeeds.
        self._refused: dict[Need, str] = {}
        # The profile value each verdict was made for: a new one (an edit) is judged again.
        self._judged: dict[str, Profile] = {}
        self._showing = False
        self._tasks: list[asyncio.Task[None]] = []

    def resolution(self, profile: str) -> Resolution | None:
        """The profile's verdict; None until what it depends on has been read."""
        return self._resolutions.get(profile)

    def watched(self) -> list[Need]:
        """The collections followed now."""
        return sorted(self._follows)

    def start(self) -> None:
        self._poster.start()
        self._tasks.append(asyncio.create_task(self._run(), name="netiso-dependencies"))

    async def stop(self) -> None:
        """Stop the loop and the watches, the Event sender, and close the tracker's client
        (its own: assembly.py)."""
        await cancel_all([*self._tasks, *self._follows.values()])
        self._follows.clear()
        await self._poster.stop()
        await self._api.close()

    async def _run(self) -> None:
        while True:
            try:
                self.refresh()
            except Exception:  # one bad profile must not stop tracking for every profile
                log.exception("tracking profile dependencies failed; retrying")
            await asyncio.sleep(self._interval)

    # ----- one pass ----------------------------------------------------------------------

    def refresh(self) -> None:
        """Follow what the profiles need now, and judge again every profile that is new,
        edited, or reads a collection that changed."""
        entries = self._live_entries()
        needs = {name: needs_of(entry.profile) for name, entry in entries.items() if entry.profile}
        self._follow_only(set().union(*needs.values()) if needs else set())
        self._show_if_leading()
        changed, self._changed = self._changed, set()
        for name, entry in sorted(entries.items()):
            profile = entry.profile
            assert profile is not None  # _live_entries keeps only parsed profiles
            wanted = needs[name]
            if self._judged.get(name) == profile and not wanted & changed:
                continue
            resolution = self._judge(profile, wanted)
            if resolution is None:
                continue  # still listing: judged once every collection is known
            self._judged[name] = profile
            self._record(entry, resolution)
        for name in set(self._resolutions) - set(entries):
            self._forget(name)

    def _live_entries(self) -> dict[str, ProfileEntry]:
        entries = {}
        for name in self._profiles.profile_names():
            entry = self._profiles.profile(name)
            if entry is not None and entry.profile is not None and not entry.deleting:
                entries[name] = entry
        return entries

    def _judge(self, profile: Profile, needs: frozenset[Need]) -> Resolution | None:
        refused = {need: self._refused[need] for need in needs if need in self._refused}
        if refused:
            return unreadable(refused, error=sorted(set(refused.values()))[0])
        if not all(self._index.listed(need) for need in needs):
            return None
        return resolution_of(dependency_findings(profile, self._index.facts(needs)))

    def _record(self, entry: ProfileEntry, resolution: Resolution) -> None:
        previous = self._resolutions.get(entry.name)
        if previous == resolution:
            return
        self._resolutions[entry.name] = resolution
        if self._showing:
            self._show(entry.name, resolution)
        before = (
            _status_word(previous.resolved)
            if previous is not None
            else _stored_status(entry.status)
        )
        after = _status_word(resolution.resolved)
        log.info(
            "dependencies of profile %s: %s (%s) %s",
            entry.name,
            after,
            resolution.reason,
            resolution.message,
        )
        # Once per change: turning False, or True again after False. A restarted operator
        # compares with the condition stored on the profile, so it does not say it twice.
        turned = after == "False" or (after == "True" and before == "False")
        if before != after and turned and self._leading():
            self._events.emit(
                involved=profile_ref(entry.name, entry.uid),
                reason=resolution.reason if after == "False" else CONDITION,
                message=resolution.message,
                type_=WARNING if after == "False" else NORMAL,
            )
        self._on_change([entry.name])

    def _forget(self, name: str) -> None:
        self._judged.pop(name, None)
        if self._resolutions.pop(name, None) is not None:
            self._metrics.forget_dependencies(profile=name)
            self._on_change([name])

    def _show(self, name: str, resolution: Resolution) -> None:
        if resolution.resolved is None:
            self._metrics.forget_dependencies(profile=name)
        else:
            self._metrics.show_dependencies(
                profile=name, unresolved={str(reason) for reason in resolution.unresolved}
            )

    def _show_if_leading(self) -> None:
        """Only the replica that writes statuses shows the metric, as it alone says it in the
        condition and Events: a standby's series go when it stops leading, and come back
        from its own verdicts when it leads."""
        leading = self._leading()
        if leading == self._showing:
            return
        self._showing = leading
        for name, resolution in self._resolutions.items():
            if leading:
                self._show(name, resolution)
            else:
                self._metrics.forget_dependencies(profile=name)

    # ----- the watches -------------------------------------------------------------------

    def _follow_only(self, needs: set[Need]) -> None:
        for need in sorted(needs - set(self._follows)):
            self._follows[need] = asyncio.create_task(
                self._follow(need), name=f"netiso-watch-{need.kind}-{need.namespace}"
            )
        for need in set(self._follows) - needs:
            self._follows.pop(need).cancel()
            self._index.forget(need)
            self._refused.pop(need, None)

    async def _follow(self, need: Need) -> None:
        """List the collection (until the server answers), then watch it from there."""
        what = watched(need)
        delay = 1.0
        while True:
            try:
                items, version = await reading.list_snapshot(
                    self._api, what.path, field_selector=what.field_selector or None
                )
                break
            except ApiError as exc:
                if isinstance(exc, Forbidden) and self._refused.get(need) != str(exc):
                    self._refused[need] = str(exc)
                    self._changed.add(need)
                log.warning("listing %s failed, retrying in %.0fs: %s", what.kind, delay, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, MAX_RETRY_DELAY)
        if self._refused.pop(need, None) is not None:
            self._changed.add(need)
        self._relisted(need, items, first=True)
        await watching.follow(
            self._api,
            what,
            resource_version=version,
            on_event=lambda body, deleted: self._seen(need, body, deleted=deleted),
            on_relist=lambda items: self._relisted(need, items),
        )

    def _seen(self, need: Need, body: Mapping[str, Any], *, deleted: bool) -> None:
        if self._index.seen(need, body, deleted=deleted):
            self._changed.add(need)

    def _relisted(
        self, need: Need, items: Sequence[Mapping[str, Any]], *, first: bool = False
    ) -> None:
        if self._index.relisted(need, items) or first:
            self._changed.add(need)


def _status_word(resolved: bool | None) -> str:
    return "Unknown" if resolved is None else ("True" if resolved else "False")


def _stored_status(status: Mapping[str, Any] | None) -> str | None:
    """The condition's status as stored on the profile, None when it has none."""
    for condition in (status or {}).get("conditions") or []:
        if isinstance(condition, Mapping) and condition.get("type") == CONDITION:
            return str(condition.get("status"))
    return None
