"""Which Events a change of a namespace's record deserves: transitions only, never steady state.

Reporting layer, pure: (old record, new record, outcome) -> (reason, type, message) triples.
"""

from __future__ import annotations

from netiso.model.guardrails import Violation
from netiso.observed.drifts import Drift
from netiso.observed.entries import NamespaceState, Outcome, Record
from netiso.reporting.events import NORMAL, WARNING

# An Event message the API server accepts whole (it truncates at 1 KiB).
_MAX_LISTED = 8


def transition_events(
    old: Record | None,
    new: Record,
    *,
    outcome: Outcome,
    fresh_drifts: frozenset[Drift],
    repaired: int,
) -> list[tuple[str, str, str]]:
    """(reason, type, message) for each Event a change from `old` to `new` deserves."""
    events: list[tuple[str, str, str]] = []
    state = new.state
    changed_state = old is None or old.state != state or old.profile != new.profile
    if fresh_drifts:
        ordered = sorted(fresh_drifts, key=lambda d: (d.policy, d.reason))
        text = ", ".join(f"{d.policy} {d.reason}" for d in ordered)
        events.append(("DriftDetected", WARNING, f"managed policies drifted: {text}"))
    if repaired:
        events.append(("DriftRepaired", NORMAL, f"repaired {repaired} drifted policy(ies)"))
    if state == NamespaceState.ISOLATED:
        what = "; ".join(map(str, outcome.written)) or "policies already in place"
        # A profile edit updating an isolated namespace posts nothing here: one Event per
        # namespace would double fan-out's writes, and the profile's status tells the roll-out.
        if changed_state and (outcome.written or old is not None):
            events.append(("Isolated", NORMAL, f"isolated by profile {new.profile}: {what}"))
    elif state == NamespaceState.EXCEPTED:
        if changed_state and (outcome.written or old is not None):
            events.append(("Excepted", WARNING, new.message))
    elif state == NamespaceState.RELEASED and (outcome.written or old is not None):
        what = "; ".join(map(str, outcome.written)) or "no managed policies left"
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
    elif state == NamespaceState.DRIFTED and changed_state and not fresh_drifts and new.drifts:
        events.append(("DriftDetected", WARNING, "managed policies drifted (Report mode)"))
    # A namespace first seen by this process and left as it was (a restart, a new leader)
    # was reported by whoever saw it change: only its metrics and status are set again.
    if state != NamespaceState.RELEASED and (old is not None or outcome.written):
        events.extend(guardrail_events(old, new))
    return events


def guardrail_events(old: Record | None, new: Record) -> list[tuple[str, str, str]]:
    """Events for a change in what the namespace owner's policies break: each new set of
    violations, their clearing, and each new exception (evidence of who let what through)."""
    events: list[tuple[str, str, str]] = []
    before = old.weakened if old else frozenset()
    after = new.weakened
    if after and _places(after) != _places(before):
        events.append(
            (
                "GuardrailViolated",
                WARNING,
                "isolation weakened, not repaired (netiso never changes a policy it does not "
                f"own): {_listed(after)}",
            )
        )
    elif before and not after:
        events.append(
            ("GuardrailsSatisfied", NORMAL, "no NetworkPolicy here breaks the profile's guardrails")
        )
    expired = _lapsed(after) - _lapsed(before)
    if expired:
        events.append(
            (
                "ExceptionExpired",
                WARNING,
                "an exception the profile lists has expired and no longer covers: "
                + "; ".join(f"{name}: {words}" for name, words in sorted(expired)[:_MAX_LISTED]),
            )
        )
    fresh = new.excepted - (old.excepted if old else frozenset())
    if fresh:
        events.append(
            (
                "GuardrailException",
                WARNING,
                "admitted by exception, still counted: "
                + "; ".join(
                    f"{policy} ({rule}): {reason}"
                    for policy, rule, reason in sorted(
                        {(v.policy, str(v.rule), v.exception or "") for v in fresh}
                    )[:_MAX_LISTED]
                ),
            )
        )
    return events


def _lapsed(violations: frozenset[Violation]) -> frozenset[tuple[str, str]]:
    return frozenset((v.policy, v.lapsed) for v in violations if v.lapsed)


def _places(violations: frozenset[Violation]) -> frozenset[tuple[str, str, str]]:
    return frozenset((v.policy, str(v.rule), v.path) for v in violations)


def _listed(violations: frozenset[Violation]) -> str:
    places = sorted(_places(violations))
    text = "; ".join(f"{policy}: {rule} at {path}" for policy, rule, path in places[:_MAX_LISTED])
    more = len(places) - _MAX_LISTED
    return text + (f"; and {more} more (netiso diff shows all)" if more > 0 else "")
