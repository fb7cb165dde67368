"""What the operator knows of each watched object: opted-in namespaces and profiles, summarised.

Model layer, pure. Built from API bodies at the parse boundary (never raising), then kept in the
operator's view; `NamespaceState` is where a namespace stands. The opt-in label is read here
in model/namespaces.py (`opted_in_profile`) and nowhere else.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from netiso.model.guardrails import Violation
from netiso.model.namespaces import NamespaceFacts, opted_in_profile
from netiso.model.parsing import parse_profile
from netiso.model.problems import ProfileError
from netiso.model.profiles import DriftAction, Mode, OnDelete, Profile
from netiso.observed.drifts import Drift, PolicyWrite


class NamespaceState(StrEnum):
    """Where a namespace stands. RELEASED: not (or no longer) opted in; no series, no status."""

    ISOLATED = "isolated"
    # Isolated but for NetworkPolicies the platform excepted from the guardrails: reported at
    # Warning level on every signal, never as plain isolated.
    EXCEPTED = "excepted"
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
    on_delete: OnDelete = OnDelete.ORPHAN
    status: Mapping[str, Any] | None = None

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> ProfileEntry:
        """Parse an IsolationProfile object; never raises."""
        metadata = body.get("metadata") or {}
        spec = body.get("spec") or {}
        raw_on_delete = spec.get("onDelete") if isinstance(spec, Mapping) else None
        base = cls(
            name=str(metadata.get("name", "")),
            uid=str(metadata.get("uid", "")),
            generation=int(metadata.get("generation") or 0),
            deleting=bool(metadata.get("deletionTimestamp")),
            on_delete=OnDelete.DELETE if raw_on_delete == OnDelete.DELETE else OnDelete.ORPHAN,
            status=body.get("status") or None,
        )
        try:
            parsed = parse_profile(body)
        except ProfileError as exc:
            return replace(base, problems=tuple(str(p) for p in exc.problems))
        return replace(base, profile=parsed, on_delete=parsed.on_delete)

    @property
    def orphan_on_delete(self) -> bool:
        """Deleting the profile leaves its namespaces' policies in place."""
        return self.on_delete == OnDelete.ORPHAN

    @property
    def dry_run(self) -> bool:
        """The profile only reports what it would write."""
        return self.profile is not None and self.profile.mode == Mode.DRY_RUN

    @property
    def repairs(self) -> bool:
        """Drift is repaired (not only reported)."""
        return self.profile is not None and self.profile.drift_action == DriftAction.REPAIR


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
            profile_name=opted_in_profile(labels),
            uid=str(metadata.get("uid", "")),
            terminating=bool(metadata.get("deletionTimestamp"))
            or (body.get("status") or {}).get("phase") == "Terminating",
        )


@dataclass(frozen=True)
class Record:
    """What netiso last concluded about a namespace; drives transition-only Events."""

    profile: str
    state: NamespaceState
    drifts: frozenset[Drift] = frozenset()
    # DryRun: the writes netiso would make.
    pending: tuple[PolicyWrite, ...] = ()
    message: str = ""
    # The Event reason of an error that has its own (e.g. RepairNotConverged); "" for the rest.
    reason: str = ""
    # Guardrails the namespace owner's own policies break, excepted ones included.
    violations: frozenset[Violation] = frozenset()
    # The exposure the weakening policies take part in, in words (empty unless weakened).
    exposure: tuple[str, ...] = ()

    @property
    def weakened(self) -> frozenset[Violation]:
        """The violations no exception covers."""
        return frozenset(v for v in self.violations if v.exception is None)

    @property
    def excepted(self) -> frozenset[Violation]:
        """The violations an exception annotation lets through (still reported)."""
        return frozenset(v for v in self.violations if v.exception is not None)


@dataclass(frozen=True)
class Outcome:
    """The result of one reconcile: the record, the writes made, and the error if any."""

    namespace: str
    record: Record
    written: tuple[PolicyWrite, ...] = ()
    error: str = ""
