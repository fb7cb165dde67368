"""Comparing the desired policies of one namespace with the live managed ones.

Cluster layer, but pure: no I/O. The answer is a `Changes` value: what to create, update and
delete, in the order that never leaves a namespace denied without its allows, and which of
those differences are drift (someone else changed our objects) rather than a profile change.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from netiso import conventions
from netiso.model.planning import DEFAULT_DENY_ROLE
from netiso.rendering.policies import RenderedPolicy, policy_hash


class DriftReason(StrEnum):
    """Why a managed policy is not what netiso last wrote."""

    MISSING = "missing"
    MODIFIED = "modified"
    UNEXPECTED = "unexpected"


@dataclass(frozen=True)
class LivePolicy:
    """What netiso needs to know of a managed NetworkPolicy in the cluster.

    `recorded_hash` is the spec-hash annotation (what netiso wrote); `actual_hash` is computed
    from the object as it is now. They differ exactly when somebody edited it.
    """

    namespace: str
    name: str
    uid: str = ""
    resource_version: str = ""
    role: str = ""
    profile: str = ""
    recorded_hash: str = ""
    actual_hash: str = ""

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> LivePolicy:
        """Summarise a NetworkPolicy as the API server returned it."""
        metadata = body.get("metadata") or {}
        labels = metadata.get("labels") or {}
        annotations = metadata.get("annotations") or {}
        return cls(
            namespace=str(metadata.get("namespace", "")),
            name=str(metadata.get("name", "")),
            uid=str(metadata.get("uid", "")),
            resource_version=str(metadata.get("resourceVersion", "")),
            role=str(labels.get(conventions.POLICY_ROLE_LABEL, "")),
            profile=str(labels.get(conventions.PROFILE_LABEL, "")),
            recorded_hash=str(annotations.get(conventions.SPEC_HASH_ANNOTATION, "")),
            actual_hash=policy_hash(body),
        )

    @classmethod
    def from_rendered(cls, policy: RenderedPolicy) -> LivePolicy:
        """The live view of a policy right after netiso wrote it."""
        labels = policy.body["metadata"]["labels"]
        return cls(
            namespace=policy.namespace,
            name=policy.name,
            role=policy.role,
            profile=str(labels.get(conventions.PROFILE_LABEL, "")),
            recorded_hash=policy.spec_hash,
            actual_hash=policy.spec_hash,
        )

    @property
    def edited(self) -> bool:
        """True when the object no longer matches what netiso recorded writing."""
        return self.recorded_hash != self.actual_hash


@dataclass(frozen=True)
class Drift:
    """One managed policy that differs from what netiso wrote, and why."""

    namespace: str
    policy: str
    reason: DriftReason


@dataclass(frozen=True)
class Step:
    """One write: create/update carry the rendered policy, delete carries the live one."""

    action: str  # "create" | "update" | "delete"
    name: str
    rendered: RenderedPolicy | None = None
    live: LivePolicy | None = None
    drift: DriftReason | None = None


@dataclass(frozen=True)
class Changes:
    """Everything that separates the live namespace from the desired one."""

    steps: tuple[Step, ...] = ()
    drifts: tuple[Drift, ...] = ()
    # Drifted objects left alone because the profile says Report.
    reported_only: tuple[Drift, ...] = field(default=())

    @property
    def empty(self) -> bool:
        """No writes needed."""
        return not self.steps

    def describe(self) -> tuple[str, ...]:
        """Human-readable one-liners: `create netiso-default-deny`, `delete x (unexpected)`."""
        out = []
        for step in self.steps:
            suffix = f" ({step.drift})" if step.drift else ""
            out.append(f"{step.action} {step.name}{suffix}")
        return tuple(out)


def is_default_deny(step: Step) -> bool:
    """True when the step writes or removes the default-deny policy."""
    role = step.rendered.role if step.rendered else (step.live.role if step.live else "")
    return role == DEFAULT_DENY_ROLE or step.name.endswith(DEFAULT_DENY_ROLE)


def order_steps(steps: Iterable[Step]) -> tuple[Step, ...]:
    """Order writes so traffic is never denied without its allows.

    Removing the default-deny goes first; then allows are written; then the default-deny;
    other deletions (allows no longer wanted) go last.
    """
    steps = list(steps)
    deny_deletes = [s for s in steps if s.action == "delete" and is_default_deny(s)]
    allow_writes = [s for s in steps if s.action != "delete" and not is_default_deny(s)]
    deny_writes = [s for s in steps if s.action != "delete" and is_default_deny(s)]
    other_deletes = [s for s in steps if s.action == "delete" and not is_default_deny(s)]
    return tuple(deny_deletes + allow_writes + deny_writes + other_deletes)


def compare(
    *,
    desired: Sequence[RenderedPolicy],
    live: Iterable[LivePolicy],
    repair: bool,
    established: Iterable[str] | None = None,
) -> Changes:
    """Work out the writes that bring `live` to `desired`, and which differences are drift.

    - a desired policy that is absent is created; it is drift (`missing`) only when netiso had
      already put it in place: its name is in `established` (what netiso last saw in sync), or,
      when that is unknown (None, e.g. after a restart), when sibling policies of the same
      profile exist;
    - a live policy that somebody edited (its content no longer matches the hash netiso
      recorded) is drift (`modified`); one that matches its record but not the desired hash
      is a plain profile change and is updated;
    - a live managed policy that is not desired is pruned when it is exactly what netiso once
      wrote, and is drift (`unexpected`) when netiso did not write it in that form.

    With `repair` false, drifted objects are left as they are and listed in `reported_only`;
    non-drift changes (creations, profile updates, prunes) still happen.
    """
    live_by_name = {policy.name: policy for policy in live}
    desired_by_name = {policy.name: policy for policy in desired}
    known = set(established) if established is not None else None
    desired_profiles = {
        str(p.body["metadata"]["labels"].get(conventions.PROFILE_LABEL, "")) for p in desired
    }
    siblings = any(p.profile in desired_profiles for p in live_by_name.values())

    steps: list[Step] = []
    drifts: list[Drift] = []
    reported: list[Drift] = []

    def record(step: Step, drift: DriftReason | None, namespace: str) -> None:
        if drift is None:
            steps.append(step)
            return
        entry = Drift(namespace=namespace, policy=step.name, reason=drift)
        drifts.append(entry)
        if repair:
            steps.append(step)
        else:
            reported.append(entry)

    for name, want in desired_by_name.items():
        have = live_by_name.get(name)
        if have is None:
            was_there = (name in known) if known is not None else siblings
            record(
                Step(action="create", name=name, rendered=want, drift=_d(was_there, "missing")),
                _d(was_there, "missing"),
                want.namespace,
            )
        elif have.edited:
            record(
                Step(action="update", name=name, rendered=want, drift=DriftReason.MODIFIED),
                DriftReason.MODIFIED,
                want.namespace,
            )
        elif have.actual_hash != want.spec_hash:
            steps.append(Step(action="update", name=name, rendered=want))

    for name, have in live_by_name.items():
        if name in desired_by_name:
            continue
        ours = (
            not have.edited
            and bool(have.recorded_hash)
            and name.startswith(conventions.POLICY_NAME_PREFIX)
        )
        reason = None if ours else DriftReason.UNEXPECTED
        record(Step(action="delete", name=name, live=have, drift=reason), reason, have.namespace)

    return Changes(steps=order_steps(steps), drifts=tuple(drifts), reported_only=tuple(reported))


def _d(flag: bool, reason: str) -> DriftReason | None:
    return DriftReason(reason) if flag else None
