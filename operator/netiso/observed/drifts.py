"""Comparing the desired policies of one namespace with the live managed ones.

Cluster layer, but pure: no I/O. The answer is a `Changes` value: what to create, update and
delete, in the order that never leaves a namespace denied without its allows, which of those
differences are drift (someone else changed our objects) rather than a profile change, and
which labelled policies are not netiso's at all (`owned`): those are reported, never touched.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from netiso import conventions
from netiso.model.planning import DEFAULT_DENY_ROLE, ROLES, policy_name
from netiso.observed.authorship import Signer
from netiso.rendering.bodies import RenderedPolicy, policy_hash


class DriftReason(StrEnum):
    """Why a managed policy is not what netiso last wrote."""

    MISSING = "missing"
    MODIFIED = "modified"
    UNEXPECTED = "unexpected"
    # Never repaired, only reported: netiso does not touch what it cannot prove is its own.
    CONFLICT = "conflict"  # a policy that is not netiso's holds one of netiso's names
    FOREIGN_CLAIMS_MANAGED = "foreign_claims_managed"  # someone else's policy wears our label


# Drift netiso reports but never writes to fix: the objects are not provably its own.
REPORT_ONLY: frozenset[DriftReason] = frozenset(
    {DriftReason.CONFLICT, DriftReason.FOREIGN_CLAIMS_MANAGED}
)


@dataclass(frozen=True)
class LivePolicy:
    """What netiso needs to know of a managed NetworkPolicy in the cluster.

    `recorded_hash` is the spec-hash annotation (what netiso wrote); `actual_hash` is computed
    from the object as it is now. They differ exactly when somebody edited it. `signature` is
    the signature annotation (authorship.Signer), "" when there is none.
    """

    namespace: str
    name: str
    uid: str = ""
    resource_version: str = ""
    role: str = ""
    profile: str = ""
    recorded_hash: str = ""
    actual_hash: str = ""
    managed: bool = True
    signature: str = ""

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
            managed=labels.get(conventions.MANAGED_BY_LABEL) == conventions.MANAGED_BY_VALUE,
            signature=str(annotations.get(conventions.SIGNATURE_ANNOTATION, "")),
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
            signature=signature_of(policy),
        )

    @property
    def edited(self) -> bool:
        """True when the object no longer matches what netiso recorded writing."""
        return self.recorded_hash != self.actual_hash


def signature_of(policy: RenderedPolicy) -> str:
    """The signature annotation of a rendering ("" when unsigned)."""
    annotations = policy.body["metadata"].get("annotations") or {}
    return str(annotations.get(conventions.SIGNATURE_ANNOTATION, ""))


def owned(
    live: LivePolicy,
    *,
    signer: Signer | None = None,
    known_hashes: Collection[str] = (),
    written_uids: Collection[str] = (),
    adopting: bool = False,
) -> bool:
    """Whether `live` is provably netiso's, so netiso may change or delete it.

    A label is not ownership: anybody who may patch a policy may add it. netiso's identity is
    the managed-by label AND a profile label AND a role label whose netiso name the object has
    (names cannot be changed, so a platform policy can never be made to look like ours) AND
    evidence that netiso wrote it:

    - its uid is one this process created or replaced (`written_uids`); or
    - with a signing key (`signer`): netiso's signature over this namespace, this name and the
      recorded spec hash. Nobody without the key can make one, a copy into another namespace
      or under another name fails it, and an edit of the spec leaves it valid (the object is
      netiso's, edited: drift to repair), whichever process or profile generation wrote it;
    - content-based evidence, as releases before signatures had it: the spec-hash annotation
      is a rendering netiso made (`known_hashes`), or the object is exactly the content its
      annotation records. Anyone can compute either, so with a key it counts only where netiso
      is `adopting` (it wants a policy under that name in a namespace opted in to it: taking
      over an unsigned one, or one signed with another key or for another namespace, replaces
      it with netiso's signed rendering and loses nothing), never to delete one. Without a key
      (the CLI, or an operator run without one) nothing can be checked: a signature counts as
      it stands, and so does content evidence (docs/limits.md).
    """
    if not (
        live.managed
        and live.profile
        and live.role in ROLES
        and live.name == policy_name(live.role)
        and live.recorded_hash
    ):
        return False
    if live.uid and live.uid in written_uids:
        return True
    content = live.recorded_hash in known_hashes or not live.edited
    if signer is None:
        # No key to check with (the CLI, or an operator run without one): a signature is taken
        # at its word, as the content evidence is.
        return bool(live.signature) or content
    if signer.verifies(
        namespace=live.namespace,
        name=live.name,
        spec_hash=live.recorded_hash,
        signature=live.signature,
    ):
        return True
    return adopting and content


@dataclass(frozen=True)
class Drift:
    """One managed policy that differs from what netiso wrote, and why."""

    namespace: str
    policy: str
    reason: DriftReason


class Verb(StrEnum):
    """What one write does to a managed policy (the `action` label of pending changes)."""

    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"


@dataclass(frozen=True)
class PolicyWrite:
    """One write to a managed policy, planned (DryRun's pending changes) or made; `drift` is
    the drift it repairs, if any. Reads as `create netiso-default-deny (missing)`."""

    verb: Verb
    name: str
    drift: DriftReason | None = None

    def __str__(self) -> str:
        suffix = f" ({self.drift})" if self.drift else ""
        return f"{self.verb} {self.name}{suffix}"


@dataclass(frozen=True)
class Step:
    """One write: create/update carry the rendered policy, delete carries the live one."""

    action: Verb
    name: str
    rendered: RenderedPolicy | None = None
    live: LivePolicy | None = None
    drift: DriftReason | None = None

    @property
    def write(self) -> PolicyWrite:
        """The write this step makes, as it is reported."""
        return PolicyWrite(verb=self.action, name=self.name, drift=self.drift)


@dataclass(frozen=True)
class Changes:
    """Everything that separates the live namespace from the desired one."""

    steps: tuple[Step, ...] = ()
    drifts: tuple[Drift, ...] = ()
    # Drifted objects left alone: the profile says Report, or they are not netiso's.
    reported_only: tuple[Drift, ...] = field(default=())

    @property
    def conflicts(self) -> tuple[Drift, ...]:
        """Desired names held by policies that are not netiso's."""
        return tuple(d for d in self.drifts if d.reason == DriftReason.CONFLICT)

    @property
    def empty(self) -> bool:
        """No writes needed."""
        return not self.steps

    def planned(self) -> tuple[PolicyWrite, ...]:
        """The writes, in order: `create netiso-default-deny`, `delete x (unexpected)`."""
        return tuple(step.write for step in self.steps)


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
    deny_deletes = [s for s in steps if s.action == Verb.DELETE and is_default_deny(s)]
    allow_writes = [s for s in steps if s.action != Verb.DELETE and not is_default_deny(s)]
    deny_writes = [s for s in steps if s.action != Verb.DELETE and is_default_deny(s)]
    other_deletes = [s for s in steps if s.action == Verb.DELETE and not is_default_deny(s)]
    return tuple(deny_deletes + allow_writes + deny_writes + other_deletes)


def compare(
    *,
    desired: Sequence[RenderedPolicy],
    live: Iterable[LivePolicy],
    repair: bool,
    established: Iterable[str] | None = None,
    written_uids: Collection[str] = (),
    known_hashes: Collection[str] = (),
    signer: Signer | None = None,
) -> Changes:
    """Work out the writes that bring `live` to `desired`, and which differences are drift.

    - a desired policy that is absent is created; it is drift (`missing`) only when netiso had
      already put it in place: its name is in `established` (what netiso last saw in sync), or,
      when that is unknown (None, e.g. after a restart), when sibling policies of the same
      profile exist;
    - a live policy whose content (whole spec, identity labels, owner and reason) differs from
      the desired one is replaced: drift (`modified`) when somebody edited it (it no longer
      matches the hash netiso recorded), a plain profile change otherwise; with a `signer`
      (the desired policies then carry their signatures), one whose signature is not the
      desired one is replaced too (signed, once, after an upgrade from a release without);
    - a live managed policy that is not desired is pruned when it is exactly what netiso once
      wrote, and is drift (`unexpected`) when netiso did not write it in that form;
    - a labelled policy that is not provably netiso's (`owned`) is never touched: at a desired
      name it is a `conflict` (and the default-deny is then held back, so nothing is denied
      without all its allows), elsewhere `foreign_claims_managed`.

    With `repair` false, drifted objects are left as they are and listed in `reported_only`;
    non-drift changes (creations, profile updates, prunes) still happen.
    """
    live_by_name = {policy.name: policy for policy in live}
    desired_by_name = {policy.name: policy for policy in desired}
    known = set(established) if established is not None else None
    hashes = {p.spec_hash for p in desired} | set(known_hashes)

    def ours(policy: LivePolicy, *, adopting: bool = False) -> bool:
        return owned(
            policy,
            signer=signer,
            known_hashes=hashes,
            written_uids=written_uids,
            adopting=adopting,
        )

    desired_profiles = {
        str(p.body["metadata"]["labels"].get(conventions.PROFILE_LABEL, "")) for p in desired
    }
    siblings = any(p.profile in desired_profiles and ours(p) for p in live_by_name.values())

    steps: list[Step] = []
    drifts: list[Drift] = []
    reported: list[Drift] = []

    def record(step: Step | None, drift: DriftReason | None, *, namespace: str, name: str) -> None:
        if drift is None:
            if step is not None:
                steps.append(step)
            return
        entry = Drift(namespace=namespace, policy=name, reason=drift)
        drifts.append(entry)
        if repair and drift not in REPORT_ONLY and step is not None:
            steps.append(step)
        else:
            reported.append(entry)

    for name, want in desired_by_name.items():
        have = live_by_name.get(name)
        if have is None:
            was_there = (name in known) if known is not None else siblings
            drift = DriftReason.MISSING if was_there else None
            step = Step(action=Verb.CREATE, name=name, rendered=want, drift=drift)
            record(step, drift, namespace=want.namespace, name=name)
        elif not ours(have, adopting=True):
            record(None, DriftReason.CONFLICT, namespace=want.namespace, name=name)
        elif have.actual_hash != want.spec_hash or (
            signer is not None and have.signature != signature_of(want)
        ):
            drift = DriftReason.MODIFIED if have.edited else None
            step = Step(action=Verb.UPDATE, name=name, rendered=want, live=have, drift=drift)
            record(step, drift, namespace=want.namespace, name=name)

    for name, have in live_by_name.items():
        if name in desired_by_name:
            continue
        if not ours(have):
            record(None, DriftReason.FOREIGN_CLAIMS_MANAGED, namespace=have.namespace, name=name)
            continue
        drift = DriftReason.UNEXPECTED if have.edited else None
        step = Step(action=Verb.DELETE, name=name, live=have, drift=drift)
        record(step, drift, namespace=have.namespace, name=name)

    if any(d.reason == DriftReason.CONFLICT for d in drifts):
        # Never deny without all allows: a blocked allow holds back the default-deny's writes.
        steps = [s for s in steps if s.action == Verb.DELETE or not is_default_deny(s)]
    return Changes(steps=order_steps(steps), drifts=tuple(drifts), reported_only=tuple(reported))
