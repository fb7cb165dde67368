"""The IsolationProfile status: counts and conditions, computed purely and written rarely.

Reporting layer. `profile_status` builds the desired status from the namespace tally;
`StatusWriter` merge-patches it onto the profile's status subresource only when it differs
from what is already there, and at most once per interval per profile; `StatusFlusher` is the
background loop that writes the statuses of profiles whose namespaces changed.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, fields, replace
from datetime import UTC, datetime
from typing import Any, Final

from netiso.model.enforcement import EnforcementState, ProbeVerdict
from netiso.observed.entries import NamespaceState, ProfileEntry, Record
from netiso.observed.view import version_number
from netiso.reporting.events import NORMAL, WARNING, Events, profile_ref
from netiso.reporting.logfields import log_fields
from netiso.reporting.resolutions import CONDITION as DEPENDENCIES_CONDITION
from netiso.reporting.resolutions import Resolution
from netiso.runtime.client import ApiClient, ApiError
from netiso.runtime.errors import NotFound
from netiso.runtime.patching import patch_profile_status

log = logging.getLogger(__name__)


# Namespaces holding exactly the planned policies (excepted ones too: their exceptions are
# counted in guardrailExceptions).
IN_SYNC_STATES: Final = frozenset({NamespaceState.ISOLATED, NamespaceState.EXCEPTED})


@dataclass(frozen=True)
class Tally:
    """How a profile's namespaces stand right now."""

    namespaces: int = 0
    in_sync: int = 0
    drifted: int = 0
    errors: int = 0
    pending_changes: int = 0
    # Namespaces whose owners' policies break a guardrail without an exception, those
    # policies, and the policies that break one under an exception.
    weakened: int = 0
    guardrail_violations: int = 0
    guardrail_exceptions: int = 0
    dry_run: bool = False
    # The first MAX_SHOWN_WEAKENED weakened namespaces by name, each with its exposure in
    # words; shard leaders publish theirs beside the counts, and `plus` merges them.
    exposures: tuple[tuple[str, tuple[str, ...]], ...] = ()

    @classmethod
    def of(cls, records: Collection[Record]) -> Tally:
        """How these namespaces stand (the records of one profile's namespaces)."""
        weakened = [len({v.policy for v in record.weakened}) for record in records]
        return cls(
            namespaces=len(records),
            in_sync=sum(1 for r in records if r.state in IN_SYNC_STATES),
            drifted=sum(1 for r in records if r.state == NamespaceState.DRIFTED),
            errors=sum(1 for r in records if r.state == NamespaceState.ERROR),
            pending_changes=sum(len(r.pending) for r in records),
            weakened=sum(1 for policies in weakened if policies),
            guardrail_violations=sum(weakened),
            guardrail_exceptions=sum(len({v.policy for v in r.excepted}) for r in records),
        )

    def counts(self) -> list[int]:
        """Every count, in field order (dry_run is not a count): the published form."""
        return [getattr(self, name) for name in _COUNTS]

    def plus(self, other: Tally) -> Tally:
        """Both tallies' counts added and their weakened namespaces merged (a profile spread
        over shards): still the first MAX_SHOWN_WEAKENED by name, since each shard's list
        holds its own first ones. A namespace in both (a shard changing hands) keeps self's
        words; dry_run from self."""
        merged = dict(other.exposures) | dict(self.exposures)
        return replace(
            self,
            exposures=tuple(sorted(merged.items()))[:MAX_SHOWN_WEAKENED],
            **{name: getattr(self, name) + getattr(other, name) for name in _COUNTS},
        )

    @classmethod
    def from_counts(
        cls,
        counts: Sequence[int],
        *,
        dry_run: bool = False,
        exposures: tuple[tuple[str, tuple[str, ...]], ...] = (),
    ) -> Tally:
        """The tally of `counts()`; missing trailing counts are 0."""
        counted: dict[str, Any] = dict(zip(_COUNTS, counts, strict=False))
        return cls(**counted, dry_run=dry_run, exposures=exposures)


# The counts by name, in the order they are published (encode_tallies): never reorder.
_COUNTS = tuple(f.name for f in fields(Tally) if f.name not in ("dry_run", "exposures"))
# Bounds on status.weakenedNamespaces: namespaces listed, sentences per namespace, and the
# characters of a sentence (the CRD's limits too).
MAX_SHOWN_WEAKENED: Final = 10
MAX_SENTENCES: Final = 5
MAX_SENTENCE: Final = 512


def shown_exposures(
    records: Mapping[str, Record],
) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """The first weakened namespaces by name, with their exposure sentences, bounded."""
    weakened = sorted(name for name, record in records.items() if record.weakened)
    return tuple(
        (
            name,
            tuple(sentence[:MAX_SENTENCE] for sentence in records[name].exposure[:MAX_SENTENCES]),
        )
        for name in weakened[:MAX_SHOWN_WEAKENED]
    )


# The key of the weakened namespaces in the published notes: no profile is called that (a
# profile's name is a DNS subdomain), and a replica of an earlier release skips it (not a list).
WEAKENED_KEY: Final = "~weakened"
# Bound on the weakened namespaces' words a shard publishes, in characters of JSON: the Lease
# is written with every renewal and its annotations hold 256 KiB in all. A profile whose words
# do not fit is published by counts alone and its status lists the writer's namespaces only.
MAX_PUBLISHED_WORDS: Final = 32 * 1024


def encode_tallies(tallies: Mapping[str, Tally]) -> str:
    """Per-profile counts and weakened namespaces as compact JSON, for a shard leader to
    publish in its Lease."""
    published: dict[str, Any] = {
        profile: t.counts() for profile, t in sorted(tallies.items()) if t.namespaces
    }
    weakened: dict[str, Any] = {}
    budget = MAX_PUBLISHED_WORDS
    for profile, tally in sorted(tallies.items()):
        if not tally.namespaces or not tally.exposures:
            continue
        words = [[name, list(sentences)] for name, sentences in tally.exposures]
        size = len(json.dumps(words, separators=(",", ":")))
        if size <= budget:
            weakened[profile] = words
            budget -= size
    if weakened:
        published[WEAKENED_KEY] = weakened
    return json.dumps(published, separators=(",", ":"))


def decode_tallies(text: str) -> dict[str, Tally]:
    """The counts and weakened namespaces `encode_tallies` wrote; anything unreadable counts
    as nothing published (unreadable words alone: no words)."""
    try:
        raw = json.loads(text) if text else {}
    except json.JSONDecodeError:
        return {}
    if not isinstance(raw, dict):
        return {}
    weakened = raw.get(WEAKENED_KEY)
    out: dict[str, Tally] = {}
    for profile, counts in raw.items():
        # Five counts: a replica of the release before guardrails, during a rolling upgrade.
        if (
            isinstance(counts, list)
            and len(counts) in (5, len(_COUNTS))
            and all(isinstance(c, int) for c in counts)
        ):
            words = weakened.get(profile) if isinstance(weakened, dict) else None
            out[str(profile)] = Tally.from_counts(counts, exposures=_decoded_words(words))
    return out


def _decoded_words(words: Any) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """Published weakened namespaces back as `Tally.exposures`; () unless well formed."""
    if not isinstance(words, list):
        return ()
    found: list[tuple[str, tuple[str, ...]]] = []
    for item in words[:MAX_SHOWN_WEAKENED]:
        if not (isinstance(item, list) and len(item) == 2 and isinstance(item[0], str)):
            return ()
        name, sentences = item
        if not (isinstance(sentences, list) and all(isinstance(s, str) for s in sentences)):
            return ()
        found.append((name, tuple(s[:MAX_SENTENCE] for s in sentences[:MAX_SENTENCES])))
    return tuple(found)


def _condition(
    *,
    type_: str,
    status: bool,
    reason: str,
    message: str,
    generation: int,
    previous: Mapping[str, Mapping[str, Any]],
    now: str,
    unknown: bool = False,
) -> dict[str, Any]:
    value = "Unknown" if unknown else ("True" if status else "False")
    old = previous.get(type_) or {}
    # lastTransitionTime moves only when the status flips, so an unchanged status is equal
    # to the one stored and costs no write.
    since = old.get("lastTransitionTime") if old.get("status") == value else None
    return {
        "type": type_,
        "status": value,
        "reason": reason,
        "message": message,
        "observedGeneration": generation,
        "lastTransitionTime": since or now,
    }


def profile_status(
    *,
    generation: int,
    tally: Tally,
    problems: Sequence[str],
    previous: Mapping[str, Any] | None,
    now: datetime,
    enforcement: ProbeVerdict | None = None,
    dependencies: Resolution | None = None,
) -> dict[str, Any]:
    """The status block for a profile. `problems` non-empty means the spec is invalid;
    `enforcement` (the last probe verdict, None while the probe is off or has not run) adds
    the Enforced condition; `dependencies` the DependenciesResolved condition (None until the
    tracker has read what the profile depends on: the stored one is kept)."""
    stamp = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    prev_conditions = {
        c.get("type", ""): c
        for c in ((previous or {}).get("conditions") or [])
        if isinstance(c, dict)
    }
    invalid = bool(problems)
    if invalid:
        ready = (False, "InvalidSpec", "; ".join(problems)[:1000])
    elif tally.dry_run:
        # DryRun is ready once every namespace has been assessed and its pending writes are
        # reported, so `kubectl wait --for=condition=Ready` works for a staged roll-out too.
        ready = (
            tally.errors == 0,
            "DryRun",
            f"DryRun: {tally.pending_changes} pending change(s) in {tally.namespaces} namespace(s)",
        )
    elif tally.in_sync == tally.namespaces:
        ready = (True, "InSync", f"{tally.in_sync}/{tally.namespaces} namespaces in sync")
    else:
        ready = (False, "NotInSync", f"{tally.in_sync}/{tally.namespaces} namespaces in sync")
    drifted = tally.drifted > 0
    degraded = invalid or tally.errors > 0

    def condition(*, type_: str, status: bool, reason: str, message: str) -> dict[str, Any]:
        return _condition(
            type_=type_,
            status=status,
            reason=reason,
            message=message,
            generation=generation,
            previous=prev_conditions,
            now=stamp,
        )

    conditions = [
        condition(type_="Ready", status=ready[0], reason=ready[1], message=ready[2]),
        condition(
            type_="Drifted",
            status=drifted,
            reason="DriftDetected" if drifted else "NoDrift",
            message=f"{tally.drifted} namespace(s) drifted"
            + (
                f", {tally.weakened} of them weakened by {tally.guardrail_violations} "
                "NetworkPolicy(ies) that break the guardrails"
                if tally.weakened
                else ""
            ),
        ),
        condition(
            type_="Degraded",
            status=degraded,
            reason="InvalidSpec" if invalid else ("ReconcileErrors" if degraded else "AsExpected"),
            message=(
                "; ".join(problems)[:1000]
                if invalid
                else f"{tally.errors} namespace(s) failed to reconcile"
            ),
        ),
    ]
    if enforcement is not None:
        conditions.append(
            _condition(
                type_="Enforced",
                status=enforcement.state == EnforcementState.ENFORCED,
                reason=str(enforcement.reason),
                message=enforcement_message(enforcement),
                generation=generation,
                previous=prev_conditions,
                now=stamp,
                unknown=enforcement.state
                in (EnforcementState.INCONCLUSIVE, EnforcementState.UNAVAILABLE),
            )
        )
    if dependencies is None:
        # Not judged yet (the tracker is still listing after a restart): the stored condition
        # stands until it is, so a restart costs no write.
        kept = prev_conditions.get(DEPENDENCIES_CONDITION)
        if kept is not None:
            conditions.append(dict(kept))
    else:
        conditions.append(
            _condition(
                type_=DEPENDENCIES_CONDITION,
                status=bool(dependencies.resolved),
                reason=dependencies.reason,
                message=dependencies.message,
                generation=generation,
                previous=prev_conditions,
                now=stamp,
                unknown=dependencies.resolved is None,
            )
        )
    return {
        "observedGeneration": generation,
        "namespaces": tally.namespaces,
        "inSync": tally.in_sync,
        "drifted": tally.drifted,
        "errors": tally.errors,
        "pendingChanges": tally.pending_changes,
        "weakened": tally.weakened,
        "guardrailViolations": tally.guardrail_violations,
        "guardrailExceptions": tally.guardrail_exceptions,
        # In words, where isolation is weakened; `weakened` says how many in all. None when
        # there is none: the merge patch removes the field, and an absent one compares equal.
        "weakenedNamespaces": [
            {"namespace": name, "exposure": list(sentences)} for name, sentences in tally.exposures
        ]
        or None,
        "conditions": conditions,
    }


def enforcement_message(verdict: ProbeVerdict) -> str:
    """The Enforced condition's message: the verdict in words and where it was probed.

    The round's duration is left out: it changes every round and would cost a write each time.
    """
    where = f" (probed namespace {verdict.namespace})" if verdict.namespace else ""
    return f"{verdict.state}: {verdict.message}{where}"[:1000]


def same_status(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> bool:
    """True when writing `new` would change nothing that `old` says."""
    if not old:
        return False
    return all(old.get(key) == value for key, value in new.items())


class StatusWriter:
    """Writes profile statuses, compare-before-write and throttled per profile."""

    def __init__(self, api: ApiClient, *, interval: float) -> None:
        self._api = api
        self._interval = interval
        self._written: dict[str, dict[str, Any]] = {}
        self._last: dict[str, float] = {}
        # The profile's resourceVersion after netiso's last status write.
        self._versions: dict[str, int] = {}

    def known(self, name: str, status: Mapping[str, Any] | None, *, version: str = "") -> None:
        """Tell the writer what the profile's status is in the cluster (from a watch event of
        the profile at resourceVersion `version`). An event older than netiso's own last write
        is ignored: taking its status as stored would keep the newer counts from being
        written again when they come back."""
        number = version_number(version)
        written = self._versions.get(name)
        if number is not None and written is not None and number < written:
            return
        if status:
            self._written[name] = dict(status)

    def forget(self, name: str) -> None:
        """The profile is gone."""
        self._written.pop(name, None)
        self._last.pop(name, None)
        self._versions.pop(name, None)

    def previous(self, name: str) -> Mapping[str, Any] | None:
        """The last status known to be on the profile."""
        return self._written.get(name)

    def due(self, name: str, status: Mapping[str, Any]) -> bool:
        """Whether `status` should be written now."""
        if same_status(self._written.get(name), status):
            return False
        # The loop's clock (time.monotonic in production) so tests can run it fast.
        now = asyncio.get_running_loop().time()
        return now - self._last.get(name, float("-inf")) >= self._interval

    async def write(self, name: str, status: Mapping[str, Any]) -> bool:
        """Merge-patch the status subresource; returns False on failure (retried later)."""
        self._last[name] = asyncio.get_running_loop().time()
        try:
            version = version_number(await patch_profile_status(self._api, name, status))
        except NotFound:
            self.forget(name)
            return True
        except ApiError as exc:
            log.warning(
                "status of profile %s not written: %s",
                name,
                exc,
                extra=log_fields(profile=name, reason="StatusNotWritten"),
            )
            return False
        self._written[name] = dict(status)
        if version is not None:
            self._versions[name] = version
        return True


class StatusFlusher:
    """Writes the status of every profile in `dirty` that needs it, about once a second.

    The Ready condition flipping posts one Event on the profile. Runs only once `started()`
    says the operator knows the whole cluster (before that, every count would be low).
    """

    def __init__(
        self,
        *,
        writer: StatusWriter,
        events: Events,
        dirty: set[str],
        profile: Callable[[str], ProfileEntry | None],
        tally: Callable[..., Tally],
        started: Callable[[], bool],
        interval: float,
        enforcement: Callable[[str], ProbeVerdict | None] = lambda name: None,
        dependencies: Callable[[str], Resolution | None] = lambda name: None,
    ) -> None:
        self._statuses = writer
        self._events = events
        self._dirty = dirty
        self._profile = profile
        self._tally = tally
        self._started = started
        self._interval = interval
        self._enforcement = enforcement
        self._dependencies = dependencies

    async def run(self) -> None:
        """The background loop; cancel it to stop."""
        while True:
            await asyncio.sleep(min(1.0, max(self._interval, 0.1)))
            if not self._started():
                continue
            try:
                await self.flush_once()
            except Exception:  # one bad profile must not stop status for all of them
                log.exception("writing profile statuses failed; retrying")

    async def flush_once(self) -> None:
        """One pass over the dirty profiles."""
        for name in list(self._dirty):
            entry = self._profile(name)
            if entry is None or entry.deleting:
                self._dirty.discard(name)
                continue
            status = profile_status(
                generation=entry.generation,
                tally=self._tally(name, dry_run=entry.dry_run),
                problems=entry.problems,
                previous=self._statuses.previous(name) or entry.status,
                now=datetime.now(UTC),
                enforcement=self._enforcement(name),
                dependencies=self._dependencies(name),
            )
            if not self._statuses.due(name, status):
                if same_status(self._statuses.previous(name) or entry.status, status):
                    self._dirty.discard(name)
                continue
            before = self._statuses.previous(name) or entry.status
            # Unmarked before the write, not after: a reconcile that ends while the write is
            # in flight marks the profile again, and its count is written on the next pass.
            self._dirty.discard(name)
            if await self._statuses.write(name, status):
                await self._ready_event(entry, before, status)
            else:
                self._dirty.add(name)

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


def _condition_of(status: Mapping[str, Any] | None, type_: str) -> Mapping[str, Any] | None:
    for condition in (status or {}).get("conditions") or []:
        if isinstance(condition, Mapping) and condition.get("type") == type_:
            return condition
    return None
