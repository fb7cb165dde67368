"""`netiso explain`: one connection's verdict, the evidence for each side, and a diagnosis.

Top layer beside cli: gathers a snapshot (gathering), evaluates the one pair in the pure core
(reachability.evaluation, .diagnosis) and prints it. Exit 0 when allowed, 1 when denied, 2 on
bad input. It stays scoped to one pair: a full explain of every pair does not scale.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from typing import Any

from netiso.cli.exits import ClusterError, Exit, UsageError
from netiso.cli.gathering import add_input_options, gather
from netiso.reachability.addresses import parse_address
from netiso.reachability.diagnosis import Diagnosis, diagnose
from netiso.reachability.evaluation import Endpoint, RuleCheck, Side, Verdict, evaluate
from netiso.reachability.portsets import PROTOCOLS
from netiso.reachability.snapshots import Snapshot
from netiso.reachability.workloads import Pod


def add_explain_command(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register `netiso explain`."""
    parser = subparsers.add_parser(
        "explain",
        help="why one connection is allowed or denied, and what to fix",
        description="Evaluate one connection against the NetworkPolicies (files or the live "
        "cluster) and show the evidence for each side. Exit 0: allowed; 1: denied; 2: bad input.",
    )
    add_input_options(parser)
    parser.add_argument("--from", dest="source", required=True, metavar="NS/POD|IP")
    parser.add_argument("--to", dest="destination", required=True, metavar="NS/POD|IP")
    parser.add_argument(
        "--port",
        required=True,
        metavar="PORT[/PROTOCOL]",
        help="a number or a named port of the destination; protocol TCP (default), UDP, SCTP",
    )
    parser.add_argument("--output", "-o", choices=("text", "json"), default="text")
    parser.add_argument(
        "--probe",
        action="store_true",
        help="also run the connection for real from the --from pod (live only; adds an "
        "ephemeral container to that pod, which Kubernetes keeps in its spec) and print the "
        "observation next to the prediction",
    )
    parser.add_argument(
        "--probe-image",
        default=None,
        metavar="IMAGE",
        help="an agnhost image for --probe (default: registry.k8s.io/e2e-test-images/agnhost)",
    )
    parser.add_argument(
        "--probe-timeout",
        type=float,
        default=3.0,
        metavar="SECONDS",
        help="how long --probe waits for the connection (default 3)",
    )
    parser.set_defaults(handler=run_explain)


@dataclass(frozen=True)
class Query:
    """A resolved explain question."""

    source: Endpoint
    destination: Endpoint
    protocol: str
    port: int


def run_explain(args: argparse.Namespace) -> int:
    """The `netiso explain` handler."""
    snapshot = gather(args)
    query = resolve_query(
        snapshot, source=args.source, destination=args.destination, port=args.port
    )
    verdict, diagnosis = explain(snapshot, query)
    probe: dict[str, Any] | None = None
    if getattr(args, "probe", False):
        probe = run_probe(args, query=query, allowed=verdict.allowed)
    if args.output == "json":
        body = verdict_json(verdict, diagnosis)
        if probe is not None:
            body["probe"] = probe
        print(json.dumps(body, indent=2))
    else:
        sys.stdout.write(format_verdict(verdict, diagnosis))
        if probe is not None:
            sys.stdout.write(format_probe(probe))
    return Exit.OK if verdict.allowed else Exit.FINDINGS


def run_probe(args: argparse.Namespace, *, query: Query, allowed: bool) -> dict[str, Any]:
    """Run the query's connection from its source pod; the prediction, the observation and
    what their comparison means. A CliError when it cannot run."""
    if getattr(args, "files", None):
        raise UsageError("--probe runs the connection in the live cluster; drop -f")
    source, destination = query.source, query.destination
    if not isinstance(source, Pod) or source.kind:
        raise UsageError("--probe: --from must be a running pod (namespace/name)")
    address = destination.ips[0] if isinstance(destination, Pod) else destination
    if isinstance(destination, Pod) and not destination.ips:
        raise UsageError(f"--probe: {destination.key} has no IP yet")
    if not 0 < args.probe_timeout <= 60:
        raise UsageError(f"--probe-timeout: must be in (0, 60] seconds, got {args.probe_timeout}")
    # Imported here: offline explain must not pay for the HTTP client's import.
    import asyncio

    from netiso.runtime.client import ApiClient, ApiError, load_credentials
    from netiso.runtime.connecting import DEFAULT_PROBE_IMAGE, run_connection

    async def probe() -> dict[str, Any]:
        api = ApiClient(load_credentials(args.kubeconfig, context=args.context), timeout=60)
        try:
            seen = await run_connection(
                api,
                namespace=source.namespace,
                pod=source.name,
                address=str(address),
                port=query.port,
                protocol=query.protocol,
                image=args.probe_image or DEFAULT_PROBE_IMAGE,
                connect_seconds=args.probe_timeout,
            )
        finally:
            await api.close()
        return {
            "predicted": "allowed" if allowed else "denied",
            "observed": str(seen.observed),
            "detail": seen.detail,
            "container": seen.container,
            "seconds": round(seen.seconds, 2),
            "conclusion": probe_conclusion(allowed=allowed, observed=str(seen.observed)),
        }

    try:
        return asyncio.run(probe())
    except (ApiError, OSError, ValueError) as error:
        raise ClusterError(f"--probe: cannot run the connection: {error}") from error


def probe_conclusion(*, allowed: bool, observed: str) -> str:
    """One sentence comparing the policies' verdict with what the packets did."""
    if observed == "connected":
        if allowed:
            return "the packets agree with the policies: the connection is open"
        return "the network plugin allows what the policies deny"
    if observed in ("refused", "timeout"):
        if not allowed:
            return "the packets agree with the policies: the connection is blocked"
        return (
            "the connection failed although the policies allow it: the network plugin blocks "
            "what the policies allow, or nothing listens on the port (a plugin that rejects "
            "looks like a closed port)"
        )
    return "inconclusive: the probe did not complete a connection attempt"


def format_probe(probe: dict[str, Any]) -> str:
    """The probe's lines under the verdict."""
    detail = f" ({probe['detail']})" if probe["detail"] else ""
    return (
        f"\nprobe (ephemeral container {probe['container']}, {probe['seconds']} s):\n"
        f"  predicted: {probe['predicted']}\n"
        f"  observed:  {probe['observed']}{detail}\n"
        f"  {probe['conclusion']}\n"
    )


def explain(snapshot: Snapshot, query: Query) -> tuple[Verdict, Diagnosis]:
    """The verdict and diagnosis of one resolved query."""
    verdict = evaluate(
        snapshot,
        source=query.source,
        destination=query.destination,
        protocol=query.protocol,
        port=query.port,
    )
    return verdict, diagnose(snapshot, verdict, source=query.source)


def resolve_query(snapshot: Snapshot, *, source: str, destination: str, port: str) -> Query:
    """Endpoints and port of a question; UsageError names what cannot be found."""
    src = resolve_endpoint(snapshot, source, option="--from")
    dst = resolve_endpoint(snapshot, destination, option="--to")
    text, _, protocol = port.partition("/")
    protocol = protocol.upper() or "TCP"
    if protocol not in PROTOCOLS:
        raise UsageError(f"--port: protocol must be one of {', '.join(PROTOCOLS)}, got {protocol}")
    if text.isdigit():
        number = int(text)
        if not 1 <= number <= 65535:
            raise UsageError(f"--port: must be 1-65535, got {number}")
        return Query(src, dst, protocol, number)
    if not isinstance(dst, Pod):
        raise UsageError(f"--port: the named port {text} needs a pod as --to")
    numbers = dst.resolve(text, protocol)
    if not numbers:
        raise UsageError(f"--port: {dst.key} has no container port named {text} ({protocol})")
    return Query(src, dst, protocol, numbers[0])


def resolve_endpoint(snapshot: Snapshot, text: str, *, option: str) -> Endpoint:
    """A pod by `ns/name` (or `ns/name[Kind]`, or unambiguously without the kind), or an IP.

    An IP that exactly one pod carries is that pod (hostNetwork pods, whose address is the
    node's, excepted under --host-network=node); any other IP is outside the input.
    """
    address = parse_address(text)
    if address is not None:
        owners = [pod for pod in snapshot.pods if address in pod.ips and snapshot.selectable(pod)]
        if len(owners) > 1:
            shown = ", ".join(pod.key for pod in owners)
            raise UsageError(f"{option}: {text} is the IP of several pods ({shown})")
        return owners[0] if owners else address
    if "/" not in text:
        raise UsageError(f"{option}: expected NAMESPACE/POD or an IP address, got {text!r}")
    found = snapshot.pod(text)
    if found is not None:
        return found
    namespace = text.partition("/")[0]
    candidates = [
        pod
        for pod in snapshot.pods_by_namespace.get(namespace, ())
        if pod.key.startswith(f"{text}[")
    ]
    if len(candidates) == 1:
        return candidates[0]
    if candidates:
        shown = ", ".join(pod.key for pod in candidates)
        raise UsageError(f"{option}: {text} is ambiguous: {shown}")
    raise UsageError(f"{option}: no pod {text} in the input")


def verdict_json(verdict: Verdict, diagnosis: Diagnosis) -> dict[str, Any]:
    """The JSON form: allowed, egress, ingress, diagnosis, findings and the query."""
    return {
        "allowed": verdict.allowed,
        "from": verdict.source,
        "to": verdict.destination,
        "port": verdict.port,
        "protocol": verdict.protocol,
        "egress": _side_json(verdict.egress),
        "ingress": _side_json(verdict.ingress),
        "diagnosis": diagnosis.headline,
        "findings": list(diagnosis.findings),
    }


def _side_json(side: Side) -> dict[str, Any]:
    admitted = next((rule for rule in side.rules if rule.admitted), None)
    return {
        "pod": side.subject,
        "governed": side.applies,
        "isolated": side.isolated,
        "allowed": side.allowed,
        "policies": list(side.policies),
        "admitted_by": None if admitted is None else _rule_json(admitted),
        "rules": [_rule_json(rule) for rule in side.rules],
        "note": side.note,
    }


def _rule_json(rule: RuleCheck) -> dict[str, Any]:
    return {
        "policy": rule.policy,
        "rule": rule.index,
        "admitted": rule.admitted,
        "peers": [
            {
                "peer": check.index,
                "selects": check.description,
                "matched": check.matched,
                "reason": check.reason,
            }
            for check in rule.peers
        ]
        or "all peers (the rule lists none)",
        "ports": {"matched": rule.port_matched, "reason": rule.port_reason},
    }


def format_verdict(verdict: Verdict, diagnosis: Diagnosis) -> str:
    """The verdict as text a responder reads top to bottom."""
    word = "ALLOWED" if verdict.allowed else "DENIED"
    lines = [
        f"{word}: {verdict.source} -> {verdict.destination} on {verdict.port}/{verdict.protocol}",
        f"diagnosis: {diagnosis.headline}",
        "",
    ]
    for side in (verdict.egress, verdict.ingress):
        lines.extend(_side_text(side))
        lines.append("")
    lines.append("findings:")
    lines.extend(f"  - {finding}" for finding in diagnosis.findings)
    return "\n".join(lines) + "\n"


def _side_text(side: Side) -> list[str]:
    where = "egress from" if side.direction == "Egress" else "ingress to"
    verdict = "allowed" if side.allowed else "DENIED"
    if not side.applies or not side.isolated:
        reason = side.note or f"not isolated for {side.direction.lower()}: no policy selects it"
        return [f"{where} {side.subject}: {verdict} ({reason})"]
    lines = [
        f"{where} {side.subject}: {verdict}",
        f"  isolated by: {', '.join(side.policies)}",
    ]
    if not side.rules:
        lines.append(f"  no {side.direction.lower()} rules: these policies allow nothing")
    for rule in side.rules:
        mark = "admits" if rule.admitted else "does not admit"
        lines.append(f"  {rule.policy} {side.direction.lower()} rule {rule.index}: {mark}")
        if not rule.peers:
            lines.append("    peers: all (the rule lists none)")
        for check in rule.peers:
            state = "matches" if check.matched else "no"
            lines.append(f"    peer {check.index} {check.description}: {state}: {check.reason}")
        state = "ok" if rule.port_matched else "no"
        lines.append(f"    ports: {state}: {rule.port_reason}")
    return lines
