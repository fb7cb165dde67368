"""What a failed write makes of a namespace's record: the message, the Event reason, the state.

Reconciling layer, pure. A conflict or a repair that did not take says so in its own words
(the exception's message); anything else names the step that failed and why.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from netiso.observed.drifts import Drift, PolicyWrite
from netiso.observed.entries import NamespaceState, Outcome, Record
from netiso.runtime.applying import NotConverged, StepFailed, UnmanagedConflict, Written


def written_as_reported(written: Iterable[Written]) -> tuple[PolicyWrite, ...]:
    """The writes made, as Events name them: verb and policy (DriftRepaired counts repairs)."""
    return tuple(PolicyWrite(verb=w.step.action, name=w.step.name) for w in written)


def failed(
    namespace: str, *, base: Record, failure: StepFailed, drifts: frozenset[Drift]
) -> Outcome:
    """The outcome of a reconcile whose writes stopped at `failure`; drift stays shown."""
    if isinstance(failure.cause, UnmanagedConflict | NotConverged):
        message = str(failure.cause)
    else:
        message = f"{failure.step.action} {failure.step.name} failed: {failure.cause}"
    reason = "RepairNotConverged" if isinstance(failure.cause, NotConverged) else ""
    record = replace(
        base, state=NamespaceState.ERROR, message=message, drifts=drifts, reason=reason
    )
    return Outcome(
        namespace=namespace,
        record=record,
        written=written_as_reported(failure.written),
        error=str(failure),
    )
