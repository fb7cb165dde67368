"""The DependenciesResolved condition from the dependency findings: False with the first
error's reason, message and fix; True with warnings named only by reason (so a count that
moves costs no write); Unknown when the collections cannot be read."""

from __future__ import annotations

from netiso.observed.providers import Need, Provided
from netiso.reachability.dependencies import Finding, Reason, Severity
from netiso.reporting.resolutions import RESOLVED, UNREADABLE, resolution_of, unreadable


def finding(reason: Reason, severity: Severity = Severity.ERROR, n: int = 1) -> Finding:
    return Finding("dns", severity, reason, "s", f"{reason} seen {n} times", f"fix {reason}")


def test_no_finding_resolves() -> None:
    found = resolution_of([])
    assert (found.resolved, found.reason, found.unresolved) == (True, RESOLVED, frozenset())


def test_the_first_error_names_the_reason_and_the_fix_and_counts_the_others() -> None:
    found = resolution_of(
        [
            finding(Reason.DNS_NO_READY_ENDPOINT),
            finding(Reason.GATEWAY_MATCHES_NOTHING),
            finding(Reason.PROBE_FROM_NODE, Severity.NOTE),
        ]
    )
    assert found.resolved is False
    assert found.reason == "DnsNoReadyEndpoint"
    assert found.message == (
        "DnsNoReadyEndpoint seen 1 times; fix: fix DnsNoReadyEndpoint "
        "(and 1 more: GatewayMatchesNothing)"
    )
    assert found.unresolved == {Reason.DNS_NO_READY_ENDPOINT, Reason.GATEWAY_MATCHES_NOTHING}


def test_warnings_keep_it_resolved_and_are_named_by_reason_only() -> None:
    one = resolution_of([finding(Reason.DNS_SELECTOR_MISSES_ENDPOINTS, Severity.WARNING, 1)])
    two = resolution_of([finding(Reason.DNS_SELECTOR_MISSES_ENDPOINTS, Severity.WARNING, 2)])
    assert one.resolved is True
    assert "DnsSelectorMissesEndpoints" in one.message
    assert one == two  # the counts in the finding's words do not reach the condition


def test_errors_the_metric_does_not_track_still_turn_it_false() -> None:
    found = resolution_of([finding(Reason.API_SERVER_ENDPOINTS_UNKNOWN)])
    assert found.resolved is False
    assert found.unresolved == frozenset()


def test_unreadable_names_what_and_the_fix() -> None:
    found = unreadable([Need("dns", Provided.PODS)], error="403 Forbidden")
    assert (found.resolved, found.reason) == (None, UNREADABLE)
    assert found.message.startswith("the operator cannot read pods in namespace dns: 403")
    assert "list and watch" in found.message
