"""`netiso diff-reach BASE HEAD`: the connections a change of manifests opens and closes, each
with the policy change that causes it, exposure increases called out, and a profile's
guardrails checked, for a pull request's CI.

Top layer beside cli: reads both directories (gathering), computes both matrices and their
differences (reachability.changes), explains each difference (reachability.causes) and judges
the head against a profile (checking). Offline only. Exit 0, 1 when the head breaks the
profile's guardrails (or, with --fail-on-exposure, widens exposure), 2 on bad input.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from netiso.cli.exits import Exit, UsageError
from netiso.cli.gathering import read_paths, snapshot_of
from netiso.cli.matrices import cidrs, shown_text
from netiso.reachability.causes import (
    ADDED,
    CHANGED,
    REMOVED,
    UNCHANGED,
    Cause,
    explain_change,
    policy_states,
    witness,
)
from netiso.reachability.changes import ExternalChange, PairChange, external_changes, pair_changes
from netiso.reachability.destinations import (
    METADATA_PORT,
    METADATA_V4,
    METADATA_V6,
    internet_part,
    ports_at,
    samples,
)
from netiso.reachability.evaluation import Endpoint, evaluate
from netiso.reachability.indexing import compute_matrix
from netiso.reachability.intervals import Intervals, merged
from netiso.reachability.portsets import PortSet
from netiso.reachability.snapshots import HostNetwork, Options, Snapshot

OPENED: Final = "opened"
CLOSED: Final = "closed"
WIDENED: Final = "widened"
NARROWED: Final = "narrowed"
REPLACED: Final = "changed"


@dataclass(frozen=True)
class Difference:
    """One connection (pod to pod, or a pod and outside addresses) whose answer changed."""

    change: str
    source: str
    destination: str
    before: str
    after: str
    causes: tuple[Cause, ...]
    exposure: tuple[str, ...] = ()
    before_json: Any = None
    after_json: Any = None
    external: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "change": self.change,
            "from": self.source,
            "to": self.destination,
            "before": self.before_json,
            "after": self.after_json,
            "exposure": list(self.exposure),
            "causes": [
                {"policy": cause.policy or None, "state": cause.state, "why": cause.words}
                for cause in self.causes
            ],
        }


@dataclass
class Review:
    """Everything diff-reach reports."""

    policies: dict[str, list[str]]
    differences: list[Difference] = field(default_factory=list)
    guardrails: dict[str, Any] | None = None

    @property
    def exposures(self) -> int:
        return sum(1 for difference in self.differences if difference.exposure)


def add_diff_reach_command(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
) -> None:
    """Register `netiso diff-reach`."""
    parser = subparsers.add_parser(
        "diff-reach",
        help="the connections a change of manifests opens and closes, and why",
        description="Compare who can reach whom under the manifests of BASE and HEAD "
        "(NetworkPolicies, workloads, pods, namespaces; directories read recursively): every "
        "connection opened, closed or changed, with the policy change that causes it, and "
        "exposure increases called out. Exit 0; 1 when HEAD breaks --profile's guardrails (or "
        "with --fail-on-exposure, widens exposure); 2 on bad input.",
    )
    parser.add_argument("base", metavar="BASE", help="the manifests before (file or directory)")
    parser.add_argument("head", metavar="HEAD", help="the manifests after (file or directory)")
    parser.add_argument(
        "--profile",
        metavar="FILE",
        help="an IsolationProfile whose guardrails HEAD's NetworkPolicies must keep",
    )
    parser.add_argument(
        "--fail-on-exposure",
        action="store_true",
        help="exit 1 when the change widens exposure (across namespaces, from or to outside)",
    )
    parser.add_argument(
        "--host-network",
        choices=[mode.value for mode in HostNetwork],
        default=HostNetwork.NODE.value,
        help="hostNetwork pods: 'node' (default) or 'pod', as for matrix",
    )
    parser.add_argument("--output", "-o", choices=("text", "json"), default="text")
    parser.set_defaults(handler=run_diff_reach)


def run_diff_reach(args: argparse.Namespace) -> int:
    """The `netiso diff-reach` handler."""
    for name in (args.base, args.head):
        if not Path(name).exists():
            raise UsageError(f"{name}: no such file or directory")
    options = Options(host_network=HostNetwork(args.host_network))
    before = snapshot_of(read_paths([Path(args.base)]), options)
    after = snapshot_of(read_paths([Path(args.head)]), options)
    review = review_change(before, after)
    failing = 0
    if args.profile:
        # Imported here: only a review with a profile needs the guardrail evaluator.
        from netiso.cli.checking import guardrail_findings

        profile, findings = guardrail_findings([args.head], profile_file=args.profile)
        states = policy_states(before, after)
        violations = []
        for finding in findings:
            found = finding.violation
            key = f"{found.namespace}/{found.policy}"
            violations.append(
                {
                    "file": finding.file,
                    "policy": key,
                    "path": found.path,
                    "rule": str(found.rule),
                    "message": found.message,
                    "exception": found.exception,
                    "new": states.get(key, UNCHANGED) in (ADDED, CHANGED),
                }
            )
        failing = sum(1 for entry in violations if entry["exception"] is None)
        review.guardrails = {"profile": profile.name, "violations": violations}
    if args.output == "json":
        print(json.dumps(review_json(review, base=args.base, head=args.head), indent=2))
    else:
        sys.stdout.write(format_review(review, base=args.base, head=args.head))
    if failing or (args.fail_on_exposure and review.exposures):
        return Exit.FINDINGS
    return Exit.OK


def review_change(before: Snapshot, after: Snapshot) -> Review:
    """Every difference between the two snapshots' answers, explained."""
    states = policy_states(before, after)
    review = Review(
        policies={
            state: sorted(key for key, found in states.items() if found == state)
            for state in (ADDED, REMOVED, CHANGED)
        }
    )
    old, new = compute_matrix(before), compute_matrix(after)
    for change in pair_changes(old, new):
        review.differences.append(
            _pair_difference(change, before=before, after=after, states=states)
        )
    for external in external_changes(old, new):
        review.differences.extend(
            _external_differences(external, before=before, after=after, states=states)
        )
    review.differences.extend(_ipv6_metadata(before=before, after=after, states=states))
    return review


def _pair_difference(
    change: PairChange, *, before: Snapshot, after: Snapshot, states: dict[str, str]
) -> Difference:
    opened = witness(change.after, change.before)
    closed = witness(change.before, change.after)
    if change.added:
        kind = OPENED
    elif change.removed:
        kind = CLOSED
    elif opened and not closed:
        kind = WIDENED
    elif closed and not opened:
        kind = NARROWED
    else:
        kind = REPLACED
    at = opened or closed
    causes: tuple[Cause, ...] = ()
    if at is not None:
        causes = explain_change(
            before=before,
            after=after,
            source=after.pod(change.source),
            destination=after.pod(change.destination),
            old_source=before.pod(change.source),
            old_destination=before.pod(change.destination),
            protocol=at[0],
            port=at[1],
            states=states,
        )
    exposure: tuple[str, ...] = ()
    source_namespace = change.source.partition("/")[0]
    if opened and source_namespace != change.destination.partition("/")[0]:
        exposure = (f"reachable from namespace {source_namespace}",)
    return Difference(
        kind,
        change.source,
        change.destination,
        change.before.describe(),
        change.after.describe(),
        causes,
        exposure,
        change.before.to_json(),
        change.after.to_json(),
    )


def _external_differences(
    change: ExternalChange, *, before: Snapshot, after: Snapshot, states: dict[str, str]
) -> list[Difference]:
    """Opened and closed address ranges of one pod and direction, each explained at its first
    address and a witness port."""
    points = samples((change.before, change.after))
    found: list[Difference] = []
    for kind in (OPENED, CLOSED):
        pieces: list[tuple[int, int]] = []
        port_at: tuple[int, str, int] | None = None
        gained = PortSet.NONE
        for index, address in enumerate(points):
            last = points[index + 1] - 1 if index + 1 < len(points) else 2**32 - 1
            was, now = ports_at(change.before, address), ports_at(change.after, address)
            more, less = (now, was) if kind == OPENED else (was, now)
            at = witness(more, less)
            if at is None:
                continue
            pieces.append((address, last))
            gained = gained.union(more)
            if port_at is None:
                port_at = (address, *at)
        if not pieces or port_at is None:
            continue
        ranges: Intervals = merged(pieces)
        outside: Endpoint = ipaddress.IPv4Address(port_at[0])
        pod_key = change.pod
        source, destination = (
            (pod_key, _shown_ranges(ranges))
            if change.egress
            else (
                _shown_ranges(ranges),
                pod_key,
            )
        )
        causes = explain_change(
            before=before,
            after=after,
            source=after.pod(pod_key) if change.egress else outside,
            destination=outside if change.egress else after.pod(pod_key),
            old_source=before.pod(pod_key) if change.egress else outside,
            old_destination=outside if change.egress else before.pod(pod_key),
            protocol=port_at[1],
            port=port_at[2],
            states=states,
        )
        exposure: list[str] = []
        if kind == OPENED:
            if change.egress:
                if internet_part(ranges):
                    exposure.append("reaches the internet")
                value = int(METADATA_V4)
                if any(first <= value <= last for first, last in ranges):
                    exposure.append(f"reaches the metadata address {METADATA_V4}")
            else:
                exposure.append(
                    "reachable from the internet"
                    if internet_part(ranges)
                    else "reachable from outside the cluster"
                )
        found.append(
            Difference(
                kind,
                source,
                destination,
                "",
                gained.describe(),
                causes,
                tuple(exposure),
                None,
                {"ranges": cidrs(ranges), "allowed": gained.to_json()},
                external=True,
            )
        )
    return found


def _shown_ranges(ranges: Intervals) -> str:
    networks = cidrs(ranges)
    shown = ", ".join(networks[:_SHOWN])
    return shown + (f" (+{len(networks) - _SHOWN} more)" if len(networks) > _SHOWN else "")


_SHOWN: Final = 4


def _ipv6_metadata(
    *, before: Snapshot, after: Snapshot, states: dict[str, str]
) -> list[Difference]:
    """Pods that newly reach fd00:ec2::254 (the matrix's external view is IPv4): checked for
    the pods whose namespace's policies changed, and for new pods."""
    touched = {key.partition("/")[0] for key, state in states.items() if state != UNCHANGED}
    found = []
    for pod in after.pods:
        old = before.pod(pod.key)
        if old is not None and pod.namespace not in touched:
            continue
        now = evaluate(
            after, source=pod, destination=METADATA_V6, protocol="TCP", port=METADATA_PORT
        )
        if not now.allowed:
            continue
        if (
            old is not None
            and evaluate(
                before, source=old, destination=METADATA_V6, protocol="TCP", port=METADATA_PORT
            ).allowed
        ):
            continue
        causes = explain_change(
            before=before,
            after=after,
            source=pod,
            destination=METADATA_V6,
            old_source=old,
            old_destination=METADATA_V6,
            protocol="TCP",
            port=METADATA_PORT,
            states=states,
        )
        found.append(
            Difference(
                OPENED,
                pod.key,
                str(METADATA_V6),
                "",
                f"TCP {METADATA_PORT}",
                causes,
                (f"reaches the metadata address {METADATA_V6}",),
                None,
                {
                    "ranges": [f"{METADATA_V6}/128"],
                    "allowed": PortSet.of("TCP", ((80, 80),)).to_json(),
                },
                external=True,
            )
        )
    return found


_MARKS: Final = {OPENED: "+", CLOSED: "-", WIDENED: "+", NARROWED: "-", REPLACED: "~"}


def format_review(review: Review, *, base: str, head: str) -> str:
    """The review as text for a pull request's log."""
    counts = {kind: 0 for kind in (OPENED, CLOSED, WIDENED, NARROWED, REPLACED)}
    for difference in review.differences:
        counts[difference.change] += 1
    lines = [
        f"netiso diff-reach {shown_text(base)} -> {shown_text(head)}: "
        + ", ".join(f"{count} {kind}" for kind, count in counts.items())
        + f"; {review.exposures} exposure increase(s)"
    ]
    for state in (ADDED, REMOVED, CHANGED):
        if review.policies[state]:
            lines.append(f"policies {state}: {', '.join(review.policies[state])}")
    lines.append("")
    if not review.differences:
        lines.append("no connection changes")
    for difference in review.differences:
        was = f" (was {difference.before})" if difference.before else ""
        lines.append(
            f"{_MARKS[difference.change]} {difference.change} {shown_text(difference.source)} -> "
            f"{shown_text(difference.destination)}: {difference.after}{was}"
        )
        lines.extend(f"    EXPOSURE: {words}" for words in difference.exposure)
        lines.extend(f"    because {shown_text(cause.words)}" for cause in difference.causes)
    if review.guardrails is not None:
        lines.append("")
        violations = review.guardrails["violations"]
        failing = [entry for entry in violations if entry["exception"] is None]
        lines.append(
            f"guardrails of profile {review.guardrails['profile']}: {len(failing)} violation(s), "
            f"{len(violations) - len(failing)} under exception"
        )
        for entry in violations:
            new = " (new in this change)" if entry["new"] else ""
            excepted = f" [exception: {entry['exception']}]" if entry["exception"] else ""
            lines.append(
                f"  {entry['file']}: NetworkPolicy {entry['policy']}: {entry['message']}"
                f"{excepted}{new}"
            )
    return "\n".join(lines) + "\n"


def review_json(review: Review, *, base: str, head: str) -> dict[str, Any]:
    """The documented JSON shape (docs/diff-reach.md)."""
    return {
        "base": base,
        "head": head,
        "policies": review.policies,
        "connections": [d.as_dict() for d in review.differences if not d.external],
        "external": [d.as_dict() for d in review.differences if d.external],
        "exposure_increases": review.exposures,
        "guardrails": review.guardrails,
    }
