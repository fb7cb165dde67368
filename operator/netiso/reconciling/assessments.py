"""The pure decision for one namespace: what netiso wants there and the writes that get it there.

Reconciling layer, no I/O. `assess()` is shared by the operator and the CLI (`netiso diff`,
`netiso status`), so the two can never disagree about what would change.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field

from netiso.cluster.drifts import Changes, LivePolicy, compare
from netiso.model.entries import NamespaceEntry, NamespaceState, ProfileEntry
from netiso.model.profiles import DriftAction, Mode
from netiso.rendering.environment import Templates
from netiso.rendering.policies import RenderError, render_policies


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
    environment: Templates,
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
    repair = spec.drift_action == DriftAction.REPAIR
    changes = compare(desired=desired, live=live, repair=repair, established=established)
    dry_run = spec.mode == Mode.DRY_RUN
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
