"""What the admission keeper should change: the objects netiso owns, and the steps to them.

Reconciling layer, pure (no I/O): from the known profiles and the live policies and bindings,
`desired` says which objects netiso keeps (the six policies, the protections, the baseline
binding and one binding per valid profile) and `plan` the writes that make the cluster so.
Only provably netiso's bindings are ever deleted (`owned_profile_binding`).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final

from netiso import conventions
from netiso.observed.entries import ProfileEntry
from netiso.rendering.validations import (
    BASELINE_BINDING,
    BINDING_PREFIX,
    LABELS,
    admission_policies,
    baseline_binding,
    binding_name,
    profile_binding,
    protection_bindings,
)

POLICY: Final = "ValidatingAdmissionPolicy"
BINDING: Final = "ValidatingAdmissionPolicyBinding"

Key = tuple[str, str]
"""(kind, name) of a policy or binding: both are cluster-scoped."""


def key_of(body: Mapping[str, Any]) -> Key:
    """The (kind, name) of an object body."""
    return str(body.get("kind", "")), str((body.get("metadata") or {}).get("name", ""))


class Action(StrEnum):
    """A write the keeper makes."""

    CREATE = "create"
    REPLACE = "replace"
    DELETE = "delete"


@dataclass(frozen=True)
class Desired:
    """The objects netiso keeps, by key, and the per-profile bindings it leaves alone (those of
    invalid profiles: like the policies, they fail closed and keep what they have)."""

    objects: Mapping[Key, Mapping[str, Any]]
    kept: frozenset[str] = frozenset()
    # The profile each per-profile binding belongs to.
    profiles: Mapping[Key, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Step:
    """One write: `body` is the rendering (create/replace), `live` the object it acts on."""

    action: Action
    key: Key
    body: Mapping[str, Any] | None = None
    live: Mapping[str, Any] | None = None


def owned_profile_binding(live: Mapping[str, Any]) -> bool:
    """Whether a binding is provably a per-profile binding netiso wrote: its name has netiso's
    prefix, it carries netiso's labels, and its profile label names the rest of its name. The
    baseline binding and anything else (netiso-operator-scope, a user's) never qualify."""
    kind, name = key_of(live)
    labels = (live.get("metadata") or {}).get("labels") or {}
    return (
        kind == BINDING
        and name.startswith(BINDING_PREFIX)
        and name != BASELINE_BINDING
        and all(labels.get(k) == v for k, v in LABELS.items())
        and labels.get(conventions.PROFILE_LABEL) == name.removeprefix(BINDING_PREFIX)
    )


def desired(entries: Iterable[ProfileEntry], *, live_bindings: Collection[str]) -> Desired:
    """What netiso keeps for these profiles, given the names of the bindings that exist.

    An invalid profile keeps its binding if it has one, and is then left out of the baseline
    (its binding guards its namespaces); without one, the baseline guards them. A profile
    whose binding name is the baseline's is skipped: the baseline binding comes first.
    """
    objects: dict[Key, Mapping[str, Any]] = {}
    for body in (*admission_policies(), *protection_bindings()):
        objects[key_of(body)] = body
    kept: set[str] = set()
    covered: list[str] = []
    profiles: dict[Key, str] = {}
    for entry in entries:
        name = binding_name(entry.name)
        if name == BASELINE_BINDING:
            continue
        if entry.profile is None:
            if name in live_bindings:
                kept.add(name)
                covered.append(entry.name)
            continue
        key = (BINDING, name)
        objects[key] = profile_binding(entry.profile)
        profiles[key] = entry.name
        covered.append(entry.name)
    objects[(BINDING, BASELINE_BINDING)] = baseline_binding(covered)
    return Desired(objects=objects, kept=frozenset(kept), profiles=profiles)


def plan(
    want: Desired,
    live: Mapping[Key, Mapping[str, Any]],
    *,
    matches: Callable[[Mapping[str, Any], Mapping[str, Any]], bool],
) -> list[Step]:
    """The writes that make `live` what `want` says: policies before bindings (a binding
    names its policy), then the deletions of netiso's bindings whose profile is gone."""
    steps: list[Step] = []
    ordered = sorted(want.objects.items(), key=lambda item: (item[0][0] != POLICY, item[0]))
    for key, body in ordered:
        current = live.get(key)
        if current is None:
            steps.append(Step(Action.CREATE, key, body=body))
        elif not matches(body, current):
            steps.append(Step(Action.REPLACE, key, body=body, live=current))
    for key, current in sorted(live.items()):
        if key in want.objects or key[1] in want.kept:
            continue
        if owned_profile_binding(current):
            steps.append(Step(Action.DELETE, key, live=current))
    return steps
