"""`netiso exposure`: an exposure audit, per namespace, of what other namespaces and outside
ranges can reach each workload on which ports, which workloads reach the internet or the cloud
metadata address, and (`--from TARGET`) the lateral paths from a workload an attacker holds.

Top layer beside cli: gathers a snapshot (files or the live cluster), computes the matrix and
the audit in the pure core (reachability.audits) and prints it. The JSON shape is documented in
docs/exposure.md. Exit 0; 1 with --fail-on-metadata when a workload reaches the metadata
address; 2 on bad input.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, Final

from netiso.cli.exits import Exit, UsageError
from netiso.cli.gathering import add_input_options, add_scope_options, gather_input
from netiso.cli.matrices import cidrs, shown_text
from netiso.cli.targets import ADDRESS, NETWORK, parse_reference, resolve_target
from netiso.model.names import dns1123_label_problem
from netiso.reachability.audits import (
    METADATA_ADDRESS_V4,
    METADATA_ADDRESS_V6,
    Audit,
    WorkloadExposure,
    audit,
    lateral_paths,
)
from netiso.reachability.indexing import compute_matrix
from netiso.reachability.workloads import Pod

# Pods of one source namespace named in a line before the rest is counted.
_SHOWN_PODS: Final = 3
_SHOWN_RANGES: Final = 4


def add_exposure_command(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register `netiso exposure`."""
    parser = subparsers.add_parser(
        "exposure",
        help="an exposure audit: who can reach each workload from other namespaces and "
        "outside, who reaches the internet or the metadata address, lateral paths",
        description="Audit each namespace's workloads under the NetworkPolicies (files or the "
        "live cluster): the other namespaces and outside IPv4 ranges that can reach them and "
        "on which ports, whether they reach the internet or the cloud metadata address "
        "(169.254.169.254, fd00:ec2::254), and with --from the workloads reachable from one "
        "an attacker holds. Exit 0; 1 with --fail-on-metadata when one reaches the metadata "
        "address; 2 on bad input.",
    )
    add_input_options(parser)
    add_scope_options(
        parser,
        namespace_help="audit this namespace (repeatable; default: every namespace with pods); "
        "with --profile, the namespace(s) to opt in",
        all_help="every namespace (the default)",
    )
    parser.add_argument(
        "--from",
        dest="start",
        metavar="TARGET",
        help="also list the lateral paths from this workload (a pod, deploy/NAME, svc/NAME, "
        "a label selector): every pod it can reach, directly or through others",
    )
    parser.add_argument(
        "--max-hops",
        type=int,
        default=3,
        metavar="N",
        help="how many connections a lateral path may take (default 3)",
    )
    parser.add_argument(
        "--fail-on-metadata",
        action="store_true",
        help="exit 1 when an audited workload reaches the metadata address",
    )
    parser.add_argument("--output", "-o", choices=("text", "json"), default="text")
    parser.set_defaults(handler=run_exposure)


def run_exposure(args: argparse.Namespace) -> int:
    """The `netiso exposure` handler."""
    for name in args.namespace:
        if problem := dns1123_label_problem(name):
            raise UsageError(f"--namespace: {problem}, got {name!r}")
    if not 1 <= args.max_hops <= 32:
        raise UsageError(f"--max-hops: must be 1-32, got {args.max_hops}")
    start = parse_reference(args.start, option="--from") if args.start else None
    if start is not None and start.kind in (ADDRESS, NETWORK):
        raise UsageError(f"--from: {start.text} is an address; name a workload or a pod")
    gathered = gather_input(args, wanted=[start] if start else [], narrow=False)
    snapshot = gathered.snapshot
    matrix = compute_matrix(snapshot)
    shown = [
        index
        for index, pod in enumerate(matrix.pods)
        if not args.namespace or pod.namespace in args.namespace
    ]
    result = audit(matrix, snapshot, shown=shown)
    if start is not None:
        target = resolve_target(
            snapshot,
            start,
            option="--from",
            namespace=gathered.namespace,
            all_namespaces=args.all_namespaces,
        )
        keys = {member.key for member in target.members if isinstance(member, Pod)}
        indices = [index for index, pod in enumerate(matrix.pods) if pod.key in keys]
        result.start = tuple(sorted(keys))
        result.lateral = lateral_paths(matrix, indices, max_hops=args.max_hops)
    if args.output == "json":
        print(json.dumps(audit_json(result), indent=2))
    else:
        sys.stdout.write(format_audit(result))
    reaching = any(
        workload.metadata_v6 or not workload.metadata_v4.empty
        for workloads in result.namespaces.values()
        for workload in workloads
    )
    return Exit.FINDINGS if args.fail_on_metadata and reaching else Exit.OK


def audit_json(result: Audit) -> dict[str, Any]:
    """The documented JSON shape (docs/exposure.md)."""
    body: dict[str, Any] = {
        "namespaces": [
            {"namespace": namespace, "workloads": [_workload_json(w) for w in workloads]}
            for namespace, workloads in sorted(result.namespaces.items())
        ]
    }
    if result.lateral is not None:
        body["lateral"] = {
            "from": list(result.start),
            "reachable": [
                {
                    "pod": hop.pod,
                    "hops": hop.hops,
                    "via": list(hop.via),
                    "allowed": hop.allowed.to_json(),
                }
                for hop in result.lateral
            ],
        }
    return body


def _workload_json(workload: WorkloadExposure) -> dict[str, Any]:
    return {
        "pod": workload.pod,
        "ingress_isolated": workload.ingress_isolated,
        "egress_isolated": workload.egress_isolated,
        "from_namespaces": [
            {
                "namespace": entry.namespace,
                "pods": list(entry.pods),
                "allowed": entry.allowed.to_json(),
            }
            for entry in workload.from_namespaces
        ],
        "from_outside": [
            {
                "ranges": cidrs(entry.ranges),
                "internet": entry.internet,
                "allowed": entry.allowed.to_json(),
            }
            for entry in workload.from_outside
        ],
        "internet": None if workload.internet.empty else workload.internet.to_json(),
        "metadata": {
            METADATA_ADDRESS_V4: None
            if workload.metadata_v4.empty
            else workload.metadata_v4.to_json(),
            METADATA_ADDRESS_V6: workload.metadata_v6,
        },
    }


def format_audit(result: Audit) -> str:
    """The audit as text: one block per namespace, one per workload, then lateral paths."""
    lines: list[str] = []
    metadata = []
    for namespace, workloads in sorted(result.namespaces.items()):
        lines.append(f"namespace {shown_text(namespace)}")
        for workload in workloads:
            lines.append(f"  {shown_text(workload.pod)}")
            lines.extend(f"    {line}" for line in _workload_lines(workload))
            if workload.metadata_v6 or not workload.metadata_v4.empty:
                metadata.append(workload.pod)
        lines.append("")
    if not result.namespaces:
        lines.append("no pod to audit")
        lines.append("")
    if metadata:
        lines.append(
            f"{len(metadata)} workload(s) reach the cloud metadata address: "
            + ", ".join(shown_text(pod) for pod in metadata)
        )
        lines.append("")
    if result.lateral is not None:
        start = ", ".join(shown_text(key) for key in result.start)
        lines.append(f"lateral paths from {start}: {len(result.lateral)} pod(s) reachable")
        for hop in result.lateral:
            path = " -> ".join(shown_text(key) for key in (*hop.via, hop.pod))
            lines.append(f"  {hop.hops} hop(s): {path} ({hop.allowed.describe()})")
        lines.append("")
    return "\n".join(lines)


def _workload_lines(workload: WorkloadExposure) -> list[str]:
    lines = []
    if not workload.ingress_isolated:
        lines.append("not isolated for ingress: every pod and address may connect")
    for entry in workload.from_namespaces:
        pods = ", ".join(shown_text(pod) for pod in entry.pods[:_SHOWN_PODS])
        if len(entry.pods) > _SHOWN_PODS:
            pods += f" (+{len(entry.pods) - _SHOWN_PODS} more)"
        lines.append(
            f"from namespace {shown_text(entry.namespace)}: {entry.allowed.describe()} ({pods})"
        )
    for outside in workload.from_outside:
        networks = cidrs(outside.ranges)
        shown = ", ".join(networks[:_SHOWN_RANGES])
        if len(networks) > _SHOWN_RANGES:
            shown += f" (+{len(networks) - _SHOWN_RANGES} more)"
        where = "the internet" if outside.internet else "outside the cluster"
        lines.append(f"from {where} ({shown}): {outside.allowed.describe()}")
    if not workload.internet.empty:
        lines.append(f"REACHES THE INTERNET: {workload.internet.describe()}")
    if not workload.metadata_v4.empty:
        lines.append(
            f"REACHES THE METADATA ADDRESS {METADATA_ADDRESS_V4}: {workload.metadata_v4.describe()}"
        )
    if workload.metadata_v6:
        lines.append(f"REACHES THE METADATA ADDRESS {METADATA_ADDRESS_V6} on TCP 80")
    if not lines:
        lines.append("reachable from no other namespace and from no outside address")
    return lines
