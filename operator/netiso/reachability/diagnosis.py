"""A verdict in the words of blocked-traffic triage, plus the DNS check responders ask first.

Reachability layer, pure. The diagnosis is one of the DIAGNOSES phrases; findings add one
sentence per side that denies and one when the source cannot resolve names.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from netiso.reachability.evaluation import (
    NAMESPACE,
    POD_LABELS,
    SELF_NOTE,
    Endpoint,
    Side,
    Verdict,
    evaluate,
    selecting_policies,
)
from netiso.reachability.policies import EGRESS
from netiso.reachability.snapshots import Snapshot
from netiso.reachability.workloads import Pod

ALLOWED: Final = "allowed"
NOT_ISOLATED: Final = "not isolated at all"
MISSING_EGRESS: Final = "missing egress allow on the source"
MISSING_INGRESS: Final = "missing ingress allow on the destination"
PORT_MISMATCH: Final = "port or protocol mismatch"
SELECTOR_MISMATCH: Final = "selector mismatch"
NAMESPACE_MISMATCH: Final = "namespace label mismatch"
DNS_MISSING: Final = "DNS egress missing"
DIAGNOSES: Final = (
    ALLOWED,
    NOT_ISOLATED,
    MISSING_EGRESS,
    MISSING_INGRESS,
    PORT_MISMATCH,
    SELECTOR_MISMATCH,
    NAMESPACE_MISMATCH,
    DNS_MISSING,
)
DNS_LABEL: Final = ("k8s-app", "kube-dns")
DNS_PORT: Final = 53


@dataclass(frozen=True)
class Diagnosis:
    """The headline (one of DIAGNOSES) and the findings behind it, most important first."""

    headline: str
    findings: tuple[str, ...]


def diagnose(snapshot: Snapshot, verdict: Verdict, *, source: Endpoint) -> Diagnosis:
    """Name why the connection is allowed or denied, and whether the source has DNS."""
    findings: list[str] = []
    if verdict.allowed:
        isolated = verdict.egress.isolated or verdict.ingress.isolated
        to_itself = verdict.source == verdict.destination
        headline = ALLOWED if isolated or to_itself else NOT_ISOLATED
        findings.append(
            f"{verdict.source} may connect to {verdict.destination} on "
            f"{verdict.port}/{verdict.protocol}"
            + (
                f": {SELF_NOTE}"
                if to_itself
                else ""
                if isolated
                else ": no policy isolates either side"
            )
        )
    else:
        headline = ""
        for side in (verdict.egress, verdict.ingress):
            if side.allowed:
                continue
            kind, sentence = _side_reason(side)
            headline = headline or kind
            findings.append(sentence)
    dns = dns_problem(snapshot, source)
    if dns:
        findings.append(dns)
        if not verdict.allowed and _is_dns_query(verdict, snapshot):
            headline = DNS_MISSING
    return Diagnosis(headline, tuple(findings))


def _side_reason(side: Side) -> tuple[str, str]:
    where = "source" if side.direction == EGRESS else "destination"
    direction = side.direction.lower()
    missing = MISSING_EGRESS if side.direction == EGRESS else MISSING_INGRESS
    policies = ", ".join(side.policies)
    port_only = [rule for rule in side.rules if rule.peer_matched and not rule.port_matched]
    if port_only:
        rule = port_only[0]
        return PORT_MISMATCH, (
            f"{rule.policy} {direction} rule {rule.index} matches the peer but not the port: "
            f"{rule.port_reason}"
        )
    near = [rule for rule in side.rules if rule.port_matched and not rule.peer_matched]
    for kind, headline in ((POD_LABELS, SELECTOR_MISMATCH), (NAMESPACE, NAMESPACE_MISMATCH)):
        for rule in near:
            if rule.closest_failure == kind:
                reason = next(check.reason for check in rule.peers if check.failure == kind)
                return headline, f"{rule.policy} {direction} rule {rule.index}: {reason}"
    if near:
        rule = near[0]
        reason = next(check.reason for check in rule.peers if not check.matched)
        return SELECTOR_MISMATCH, f"{rule.policy} {direction} rule {rule.index}: {reason}"
    return missing, (
        f"the {where} {side.subject} is isolated for {direction} by {policies} and no "
        f"{direction} rule admits this peer and port"
    )


def _is_dns_query(verdict: Verdict, snapshot: Snapshot) -> bool:
    destination = snapshot.pod(verdict.destination)
    return (
        verdict.port == DNS_PORT
        and destination is not None
        and destination.labels.get(DNS_LABEL[0]) == DNS_LABEL[1]
    )


def dns_pods(snapshot: Snapshot) -> tuple[Pod, ...]:
    """The kube-dns pods of the input (label k8s-app=kube-dns)."""
    return tuple(pod for pod in snapshot.pods if pod.labels.get(DNS_LABEL[0]) == DNS_LABEL[1])


def dns_problem(snapshot: Snapshot, source: Endpoint) -> str:
    """Why the source cannot resolve names (no kube-dns pod on 53/UDP and 53/TCP), or ""."""
    if not isinstance(source, Pod) or not selecting_policies(snapshot, source, direction=EGRESS):
        return ""
    servers = dns_pods(snapshot)
    if not servers:
        return ""
    missing = [
        protocol
        for protocol in ("UDP", "TCP")
        if not any(
            evaluate(
                snapshot, source=source, destination=server, protocol=protocol, port=DNS_PORT
            ).allowed
            for server in servers
            if server.key != source.key
        )
    ]
    if not missing:
        return ""
    shown = " and ".join(f"{DNS_PORT}/{protocol}" for protocol in missing)
    return f"{DNS_MISSING}: {source.key} cannot reach any kube-dns pod on {shown}"
