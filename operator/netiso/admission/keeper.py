"""The admission keeper: keeps netiso's ValidatingAdmissionPolicies and bindings in place.

Reconciling layer. Lists the policies and bindings once, follows them with plain watches
(runtime/watching.py), and after every change of them or of the profiles compares what is
stored with what admission_plans.desired() says, writing only what differs. Only the writing
replica writes; every replica exports netiso_guardrail_installed. An API server without the
API, or a refusal, is logged once and retried with backoff; it never stops the operator.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Final

from netiso.admission.plans import (
    BINDING,
    Action,
    Desired,
    Key,
    Step,
    desired,
    key_of,
    plan,
)
from netiso.observed.entries import ProfileEntry
from netiso.observed.view import version_number
from netiso.rendering.serverdefaults import in_place, labels_in_place, normalise
from netiso.rendering.validations import API_VERSION
from netiso.reporting.events import WARNING, Events, Involved, profile_ref
from netiso.reporting.logfields import log_fields
from netiso.reporting.metrics import Metrics
from netiso.runtime import admissions, watching
from netiso.runtime.client import ApiClient, ApiError, Fenced
from netiso.runtime.errors import Forbidden, NotFound
from netiso.runtime.posting import EventPoster
from netiso.runtime.reading import list_snapshot
from netiso.runtime.tasking import cancel_all

log = logging.getLogger(__name__)

# Changes arriving together (a profile and its binding's echo) are compared once.
_COALESCE: Final = 0.05
_FIRST_RETRY: Final = 1.0
_MAX_RETRY: Final = 60.0
RESTORED: Final = "GuardrailRestored"


class AdmissionKeeper:
    """Keeps the admission objects netiso owns as rendered. `profiles()` lists the known
    profiles; nothing is written before `profiles_changed()` was first called (the
    reconciler's listing is merged), and nothing while `leading()` is False."""

    def __init__(
        self,
        *,
        api: ApiClient,
        metrics: Metrics,
        profiles: Callable[[], Iterable[ProfileEntry | None]],
        leading: Callable[[], bool] = lambda: True,
    ) -> None:
        self._api = api
        self._metrics = metrics
        self._profiles = profiles
        self._leading = leading
        self._poster = EventPoster(api, senders=1)
        self._events = Events(self._poster)
        self._live: dict[Key, dict[str, Any]] = {}
        self._wake = asyncio.Event()
        self._profiles_known = False
        self._listed = False
        # The spec each object had when last seen in place: a later difference that netiso
        # did not cause is a person's change, restored with a Warning Event.
        self._in_place: dict[Key, Any] = {}
        # What the server stored for a rendering netiso wrote: a server with defaults this
        # version does not know still counts as in place, so it is not rewritten forever.
        self._accepted: dict[Key, tuple[Any, Any]] = {}
        self._shown: set[Key] = set()
        self._trouble = ""
        self._retry = _FIRST_RETRY
        self._tasks: list[asyncio.Task[None]] = []

    # ----- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        """Start listing, watching and keeping."""
        self._poster.start()
        self._tasks.append(asyncio.create_task(self._run(), name="netiso-admission"))

    async def stop(self) -> None:
        """Stop the watches and the loop; queued Events are dropped."""
        await self._poster.stop()
        await cancel_all(self._tasks)

    def profiles_changed(self) -> None:
        """The profiles were listed, or one appeared, changed or went."""
        self._profiles_known = True
        self._wake.set()

    def leadership_changed(self) -> None:
        """Leadership moved: a new leader re-checks everything."""
        self._wake.set()

    # ----- the loop --------------------------------------------------------------------------

    async def _run(self) -> None:
        versions = await self._list_until_served()
        self._listed = True
        self._tasks.extend(
            asyncio.create_task(
                watching.follow(
                    self._api,
                    watched,
                    resource_version=version,
                    on_event=self._event_sink(kind),
                    on_relist=self._relist_sink(kind),
                ),
                name=f"netiso-watch-{watched.kind}",
            )
            for (kind, watched), version in zip(admissions.WATCHED.items(), versions, strict=True)
        )
        self._wake.set()
        while True:
            await self._wake.wait()
            await asyncio.sleep(_COALESCE)
            self._wake.clear()
            if not self._profiles_known:
                continue
            try:
                failures = await self._converge()
            except Fenced:
                continue  # leadership lapsed mid-pass: the next leader re-checks
            if failures:
                self._trouble_with(failures[0])
                asyncio.get_running_loop().call_later(self._retry, self._wake.set)
                self._retry = min(self._retry * 2, _MAX_RETRY)
                continue
            self._available()

    async def _list_until_served(self) -> list[str]:
        """List policies and bindings into the view, retrying with backoff; their versions."""
        while True:
            try:
                versions = []
                for kind, watched in admissions.WATCHED.items():
                    items, version = await list_snapshot(self._api, watched.path)
                    self._relisted(kind, items)
                    versions.append(version)
                return versions
            except ApiError as exc:
                self._trouble_with(exc)
                self._none_installed()
                await asyncio.sleep(self._retry)
                self._retry = min(self._retry * 2, _MAX_RETRY)

    def _trouble_with(self, exc: ApiError) -> None:
        """Log why the objects cannot be kept, once per kind of trouble."""
        if isinstance(exc, NotFound):
            why = (
                "the API server does not serve admissionregistration.k8s.io/v1 "
                "ValidatingAdmissionPolicies (Kubernetes 1.30 or later needed)"
            )
        elif isinstance(exc, Forbidden):
            why = (
                f"the operator may not {exc.method} {exc.path}: its ClusterRole lacks a "
                "rule (see docs/install.md)"
            )
        else:
            why = str(exc)
        if why != self._trouble:
            log.error(
                "admission guardrails cannot be kept (retrying with backoff; NETISO_ADMISSION="
                "off turns the keeper off): %s",
                why,
            )
            self._trouble = why

    def _none_installed(self) -> None:
        """Nothing can be listed: show every object as not installed."""
        for key in self._shown:
            self._metrics.show_installed(kind=key[0], name=key[1], installed=False)
        if self._profiles_known and not self._listed:
            for key in self._want().objects:
                self._metrics.show_installed(kind=key[0], name=key[1], installed=False)
                self._shown.add(key)

    def _available(self) -> None:
        if self._trouble:
            log.info("admission guardrails are kept again")
        self._trouble = ""
        self._retry = _FIRST_RETRY

    # ----- the view --------------------------------------------------------------------------

    def _event_sink(self, kind: str) -> watching.EventSink:
        return lambda body, deleted: self._seen(kind, body, deleted)

    def _relist_sink(self, kind: str) -> watching.RelistSink:
        return lambda items: self._relisted(kind, items)

    def _seen(self, kind: str, body: Mapping[str, Any], deleted: bool) -> None:
        """A watch event: newer than what is known, or a deletion of the object known."""
        key = (kind, str((body.get("metadata") or {}).get("name", "")))
        current = self._live.get(key)
        metadata = body.get("metadata") or {}
        if deleted:
            if current is not None and _uid(current) == str(metadata.get("uid", "")):
                del self._live[key]
        elif current is None or not _older(body, than=current):
            self._live[key] = {**body, "kind": key[0]}
        self._wake.set()

    def _relisted(self, kind: str, items: Sequence[Mapping[str, Any]]) -> None:
        for key in [k for k in self._live if k[0] == kind]:
            del self._live[key]
        for item in items:
            self._live[(kind, str((item.get("metadata") or {}).get("name", "")))] = {
                **item,
                "kind": kind,
            }
        self._wake.set()

    def _want(self) -> Desired:
        bindings = {name for kind, name in self._live if kind == BINDING}
        return desired(
            (entry for entry in self._profiles() if entry is not None), live_bindings=bindings
        )

    def _matches(self, key: Key, body: Mapping[str, Any], live: Mapping[str, Any]) -> bool:
        if in_place(body, live):
            return True
        accepted = self._accepted.get(key)
        return (
            accepted is not None
            and accepted == (normalise(body), live.get("spec"))
            and labels_in_place(body, live)
        )

    # ----- keeping ---------------------------------------------------------------------------

    async def _converge(self) -> list[ApiError]:
        """One pass: export what is in place and, on the writing replica, write what differs.
        Returns the refused writes."""
        want = self._want()
        self._show(want)
        if not self._leading():
            return []
        steps = plan(
            want,
            self._live,
            matches=lambda body, live: self._matches(key_of(body), body, live),
        )
        # One refused write (say, a permission missing for one kind) must not keep the others
        # from being made, nor mark objects that are in place as missing: an object whose
        # write failed differs from its rendering, so _show() already exports it as 0.
        failures: list[ApiError] = []
        for step in steps:
            try:
                await self._carry_out(step, want=want)
            except Fenced:
                raise
            except ApiError as exc:
                log.warning("%s of %s %s failed: %s", step.action, *step.key, exc)
                failures.append(exc)
        if steps:
            self._show(want)
        return failures

    def _show(self, want: Desired) -> None:
        """Export what is in place, and remember it for telling a person's change."""
        for key, body in want.objects.items():
            live = self._live.get(key)
            ok = live is not None and self._matches(key, body, live)
            if ok and live is not None:
                self._in_place[key] = live.get("spec")
            self._metrics.show_installed(kind=key[0], name=key[1], installed=ok)
        for key in self._shown - set(want.objects):
            self._metrics.forget_installed(kind=key[0], name=key[1])
            self._in_place.pop(key, None)
            self._accepted.pop(key, None)
        self._shown = set(want.objects)

    async def _carry_out(self, step: Step, *, want: Desired) -> None:
        kind, name = step.key
        if step.action == Action.DELETE:
            assert step.live is not None
            await admissions.delete(
                self._api,
                kind=kind,
                name=name,
                uid=_uid(step.live),
                resource_version=str((step.live.get("metadata") or {}).get("resourceVersion", "")),
            )
            self._live.pop(step.key, None)
            log.info("deleted %s %s: its profile is gone", kind, name)
            return
        assert step.body is not None
        before = self._in_place.get(step.key)
        changed_by_someone = step.key in self._in_place and (
            step.live is None or step.live.get("spec") != before
        )
        if step.action == Action.CREATE:
            # AlreadyExists (created meanwhile, and the watch has not said so yet) is raised
            # like any refusal: retried with backoff, by which time the watch has brought it.
            stored = await admissions.create(self._api, step.body)
        else:
            assert step.live is not None
            body = _keeping_metadata(step.body, step.live)
            version = str((step.live.get("metadata") or {}).get("resourceVersion", ""))
            stored = await admissions.replace(self._api, body, resource_version=version)
        stored = {**stored, "kind": kind}
        self._live[step.key] = stored
        self._accepted[step.key] = (normalise(step.body), stored.get("spec"))
        if not in_place(step.body, stored):
            log.warning(
                "%s %s: the API server stores a spec other than netiso's rendering with its "
                "defaults; taking it as in place",
                kind,
                name,
            )
        what = "deleted" if step.live is None else "changed"
        if changed_by_someone:
            message = f"{kind} {name} was {what} by someone other than netiso; netiso restored it"
            log.warning(
                "%s",
                message,
                extra=log_fields(profile=want.profiles.get(step.key, ""), reason=RESTORED),
            )
            self._events.emit(
                involved=self._involved(step.key, stored, want=want),
                reason=RESTORED,
                message=message,
                type_=WARNING,
            )
        else:
            log.info(
                "%s %s %s",
                "created" if step.live is None else "updated",
                kind,
                name,
                extra=log_fields(profile=want.profiles.get(step.key, "")),
            )
        self._in_place[step.key] = stored.get("spec")

    def _involved(self, key: Key, stored: Mapping[str, Any], *, want: Desired) -> Involved:
        """A profile's binding: the profile (its owner looks there). The rest: the restored
        object itself, which `kubectl describe` shows the Event with."""
        profile = want.profiles.get(key)
        if profile is not None:
            entry = next((e for e in self._profiles() if e is not None and e.name == profile), None)
            return profile_ref(profile, entry.uid if entry is not None else "")
        return Involved(kind=key[0], name=key[1], api_version=API_VERSION, uid=_uid(stored))


def _uid(body: Mapping[str, Any]) -> str:
    return str((body.get("metadata") or {}).get("uid", ""))


def _older(body: Mapping[str, Any], *, than: Mapping[str, Any]) -> bool:
    """Whether `body` is an older version of the object `than` is (a late watch event)."""
    new = version_number(str((body.get("metadata") or {}).get("resourceVersion", "")))
    old = version_number(str((than.get("metadata") or {}).get("resourceVersion", "")))
    return _uid(body) == _uid(than) and new is not None and old is not None and new < old


def _keeping_metadata(body: Mapping[str, Any], live: Mapping[str, Any]) -> dict[str, Any]:
    """The rendering with the live object's labels and annotations kept beside netiso's (a
    kubectl or Helm install records itself there), for a whole-object PUT."""
    metadata = dict(body["metadata"])
    live_metadata = live.get("metadata") or {}
    metadata["labels"] = {**(live_metadata.get("labels") or {}), **metadata.get("labels", {})}
    if live_metadata.get("annotations"):
        metadata["annotations"] = dict(live_metadata["annotations"])
    return {**body, "metadata": metadata}
