"""Whether a profile's dependencies resolve, in words: the DependenciesResolved condition.

Reporting layer, pure: `resolution_of` turns the dependency findings the operator computes
(`reachability.dependencies.dependency_findings`) into the condition's status, reason and
message, and the reasons the `netiso_dependency_unresolved` metric shows; `unreadable` says
what the operator could not read. The same findings `netiso doctor` prints.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final

from netiso.observed.providers import Need
from netiso.reachability.dependencies import Finding, Reason, Severity

CONDITION: Final = "DependenciesResolved"
RESOLVED: Final = "Resolved"
UNREADABLE: Final = "DependenciesUnreadable"
# The reasons the operator tracks: every error the DNS, gateway and monitoring checks can
# find. One series per profile and reason, so the metric's cardinality is bounded by these.
TRACKED_REASONS: Final = (
    Reason.DNS_DISABLED,
    Reason.DNS_SERVICE_NOT_FOUND,
    Reason.DNS_NO_READY_ENDPOINT,
    Reason.DNS_PORT_NOT_ALLOWED,
    Reason.GATEWAY_MATCHES_NOTHING,
    Reason.MONITORING_MATCHES_NOTHING,
)
MAX_MESSAGE: Final = 1000


@dataclass(frozen=True)
class Resolution:
    """A profile's dependencies judged: `resolved` None when they could not be read;
    `unresolved` the tracked reasons found (empty when resolved or unknown)."""

    resolved: bool | None
    reason: str
    message: str
    unresolved: frozenset[Reason] = frozenset()


def resolution_of(findings: Sequence[Finding]) -> Resolution:
    """The condition for these findings: False on any error (the first one's reason, its
    message and fix, and how many more), True otherwise (warnings are named in the message,
    by reason, but isolation does not break what they describe)."""
    errors = [finding for finding in findings if finding.severity is Severity.ERROR]
    unresolved = frozenset(
        finding.reason for finding in errors if finding.reason in TRACKED_REASONS
    )
    if errors:
        first = errors[0]
        more = sorted({str(finding.reason) for finding in errors[1:]})
        message = f"{first.message}; fix: {first.fix}" + (
            f" (and {len(errors) - 1} more: {', '.join(more)})" if more else ""
        )
        return Resolution(False, str(first.reason), message[:MAX_MESSAGE], unresolved)
    # Warnings by reason only: their counts move with every DNS pod rolled, and each move
    # would cost a status write; `netiso doctor` prints them whole.
    warned = sorted({str(f.reason) for f in findings if f.severity is Severity.WARNING})
    message = "the DNS, gateway and monitoring pods the profile depends on are in place"
    if warned:
        message += f"; warnings: {', '.join(warned)} (netiso doctor --profile shows them)"
    return Resolution(True, RESOLVED, message[:MAX_MESSAGE])


def unreadable(needs: Iterable[Need], *, error: str) -> Resolution:
    """The operator may not read what the checks need (`error`: what the server said)."""
    shown = ", ".join(need.words() for need in sorted(needs))
    message = (
        f"the operator cannot read {shown}: {error}; fix: grant the operator list and watch "
        "on pods, services and discovery.k8s.io endpointslices (manifests/rbac.yaml)"
    )
    return Resolution(None, UNREADABLE, message[:MAX_MESSAGE])
