"""Which Events a change of a namespace's record deserves: transitions only, never steady state.

Reporting layer, pure: (old record, new record, outcome) -> (reason, type, message) triples.
"""

from __future__ import annotations

from netiso.model.entries import NamespaceState, Outcome, Record
from netiso.reporting.events import NORMAL, WARNING


def transition_events(
    old: Record | None,
    new: Record,
    *,
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
        events.append((new.reason or "ReconcileFailed", WARNING, new.message))
    elif state == NamespaceState.DRY_RUN and (
        changed_state or (old and old.pending != new.pending)
    ):
        pending = "; ".join(f"would {p}" for p in new.pending) or "no changes pending"
        events.append(("DryRun", NORMAL, f"profile {new.profile} is DryRun: {pending}"))
    elif state == NamespaceState.DRIFTED and changed_state and not fresh_drifts:
        events.append(("DriftDetected", WARNING, "managed policies drifted (Report mode)"))
    return events
