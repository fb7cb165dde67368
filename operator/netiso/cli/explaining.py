"""`netiso explain`: one connection's verdict, the evidence for each side, and a diagnosis.

Top layer beside cli: gathers a snapshot (gathering), evaluates the one pair in the pure core
(reachability.evaluation, .diagnosis) and prints it. Exit 0 when allowed, 1 when denied, 2 on
bad input. It stays scoped to one pair: a full explain of every pair does not scale.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from netiso.cli import printing
from netiso.cli.exits import ClusterError, Exit, UsageError
from netiso.cli.gathering import add_input_options, add_scope_options, gather_input
from netiso.cli.targets import Reference, Target, parse_reference, resolve_target, service_port
from netiso.model.names import dns1123_label_problem
from netiso.reachability.diagnosis import Diagnosis, diagnose
from netiso.reachability.evaluation import Endpoint, RuleCheck, Side, Verdict, evaluate
from netiso.reachability.portsets import PROTOCOLS
from netiso.reachability.services import target_port
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
    target = "NS/POD|KIND/NAME|svc/NAME[:PORT]|SELECTOR|IP|CIDR"
    parser.add_argument(
        "--from",
        dest="source",
        required=True,
        metavar=target,
        help="the client: a pod (NS/POD, or POD with -n), a workload (deploy/NAME, sts/NAME, "
        "ds/NAME, rs/NAME, or NS/deploy/NAME), a Service's pods (svc/NAME), a label selector "
        "(app=web, in -n or every namespace with -A), an IP address or a CIDR",
    )
    parser.add_argument(
        "--to",
        dest="destination",
        required=True,
        metavar=target,
        help="the server, named as --from; svc/NAME:PORT asks about a Service port (its "
        "targetPort on each pod it selects)",
    )
    parser.add_argument(
        "--port",
        metavar="PORT[/PROTOCOL]",
        help="a number or a named port of the destination (a Service's port for svc/NAME); "
        "protocol TCP (default), UDP, SCTP",
    )
    add_scope_options(
        parser,
        namespace_help="where targets without a namespace are (default: the context's, else "
        "default); with --profile, the namespace(s) to opt in (repeatable)",
        all_help="a label selector target matches pods of every namespace",
    )
    printing.add_output_option(
        parser,
        formats=("text", printing.JSON, printing.YAML, printing.JSONPATH),
        default="text",
    )
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
    """A resolved explain question: one connection."""

    source: Endpoint
    destination: Endpoint
    protocol: str
    port: int


@dataclass(frozen=True)
class Question:
    """Every connection a question stands for (a Service or a workload is several pods), what
    each side names, and the pods left out (a Service sends them nothing on this port)."""

    source: Target
    destination: Target
    queries: tuple[Query, ...]
    total: int
    port_words: str = ""
    skipped: tuple[str, ...] = ()

    @property
    def single(self) -> bool:
        return self.source.single and self.destination.single and len(self.queries) == 1


@dataclass(frozen=True)
class Answer:
    """One connection's verdict and diagnosis."""

    query: Query
    verdict: Verdict
    diagnosis: Diagnosis


# Connections a question may stand for: a Service of many pods asked from a workload of many.
MAX_PAIRS: Final = 256


def run_explain(args: argparse.Namespace) -> int:
    """The `netiso explain` handler."""
    for name in args.namespace:
        if problem := dns1123_label_problem(name):
            raise UsageError(f"--namespace: {problem}, got {name!r}")
    references = (
        parse_reference(args.source, option="--from"),
        parse_reference(args.destination, option="--to"),
    )
    gathered = gather_input(args, wanted=references, narrow=False)
    question = resolve_question(
        gathered.snapshot,
        source=references[0],
        destination=references[1],
        port=args.port,
        namespace=gathered.namespace,
        all_namespaces=args.all_namespaces,
    )
    answers = [Answer(query, *explain(gathered.snapshot, query)) for query in question.queries]
    shown = next((answer for answer in answers if not answer.verdict.allowed), answers[0])
    probe: dict[str, Any] | None = None
    if getattr(args, "probe", False):
        probe = run_probe(args, query=shown.query, allowed=shown.verdict.allowed)
    if args.output != "text":
        body = verdict_json(shown.verdict, shown.diagnosis)
        body["pairs"] = [_pair_json(answer) for answer in answers]
        body["targets"] = {
            "from": _target_json(question.source),
            "to": _target_json(question.destination),
        }
        if question.port_words:
            body["service_port"] = question.port_words
        if question.total > len(answers):
            body["pairs_total"] = question.total
        if probe is not None:
            body["probe"] = probe
        sys.stdout.write(printing.data_text(body, output=args.output, template=args.template))
    else:
        if not question.single:
            sys.stdout.write(format_summary(question, answers))
        sys.stdout.write(format_verdict(shown.verdict, shown.diagnosis))
        if not question.single:
            sys.stdout.write(format_other_diagnoses(answers, shown=shown))
        if probe is not None:
            sys.stdout.write(format_probe(probe))
    return Exit.OK if all(answer.verdict.allowed for answer in answers) else Exit.FINDINGS


def format_summary(question: Question, answers: Sequence[Answer]) -> str:
    """The heading of a question about several connections: what each side stands for and
    one line per connection, before the first denied one is shown in full."""
    lines = []
    for word, target in (("from", question.source), ("to", question.destination)):
        if target.label:
            lines.append(f"{word} {target.label}: {_members(target)}")
    if question.port_words:
        lines.append(f"port: {question.port_words}")
    lines.extend(f"  left out: {note}" for note in question.skipped)
    denied = sum(1 for answer in answers if not answer.verdict.allowed)
    count = f"{len(answers)} connections" if len(answers) != 1 else "1 connection"
    if question.total > len(answers):
        count += f" (the first {len(answers)} of {question.total})"
    lines.append(f"{count}: {len(answers) - denied} allowed, {denied} denied")
    for answer in answers:
        verdict = answer.verdict
        word = "ALLOWED" if verdict.allowed else "DENIED "
        lines.append(
            f"  {word} {verdict.source} -> {verdict.destination} on "
            f"{verdict.port}/{verdict.protocol}: {answer.diagnosis.headline}"
        )
    lines.append("")
    which = "the first denied connection" if denied else "the first connection"
    lines.append(f"{which} in full:")
    lines.append("")
    return "\n".join(lines) + "\n"


def format_other_diagnoses(answers: Sequence[Answer], *, shown: Answer) -> str:
    """Every other diagnosis among the connections, each with the first one that has it."""
    seen = {(shown.verdict.allowed, shown.diagnosis.headline)}
    lines = []
    for answer in answers:
        key = (answer.verdict.allowed, answer.diagnosis.headline)
        if key in seen:
            continue
        seen.add(key)
        lines.append("")
        lines.append(
            f"another diagnosis, first seen on {answer.verdict.source} -> "
            f"{answer.verdict.destination}:"
        )
        lines.append("")
        lines.append(format_verdict(answer.verdict, answer.diagnosis).rstrip("\n"))
    return "\n".join(lines) + "\n" if lines else ""


def _members(target: Target) -> str:
    shown = ", ".join(target.names[:_SHOWN_MEMBERS])
    if len(target.names) > _SHOWN_MEMBERS:
        shown += f" (+{len(target.names) - _SHOWN_MEMBERS} more)"
    return shown


_SHOWN_MEMBERS: Final = 8


def _pair_json(answer: Answer) -> dict[str, Any]:
    return {
        "from": answer.verdict.source,
        "to": answer.verdict.destination,
        "port": answer.verdict.port,
        "protocol": answer.verdict.protocol,
        "allowed": answer.verdict.allowed,
        "diagnosis": answer.diagnosis.headline,
    }


def _target_json(target: Target) -> dict[str, Any]:
    return {"names": target.label or target.names[0], "members": list(target.names)}


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
    """The one connection between two pods or addresses (`ns/pod`, `ns/name[Kind]`, an IP);
    UsageError names what cannot be found. Several connections: the first."""
    question = resolve_question(
        snapshot,
        source=parse_reference(source, option="--from"),
        destination=parse_reference(destination, option="--to"),
        port=port,
        namespace="default",
    )
    return question.queries[0]


def resolve_question(
    snapshot: Snapshot,
    *,
    source: Reference,
    destination: Reference,
    port: str | None,
    namespace: str,
    all_namespaces: bool = False,
) -> Question:
    """Every connection from what `source` names to what `destination` names, on the port
    (for a Service: its port, leading to each pod's targetPort)."""
    src = resolve_target(
        snapshot, source, option="--from", namespace=namespace, all_namespaces=all_namespaces
    )
    dst = resolve_target(
        snapshot, destination, option="--to", namespace=namespace, all_namespaces=all_namespaces
    )
    text, protocol = _port_text(port)
    if dst.service is not None:
        return _service_question(src, dst, port=port, service_text=destination.port)
    if port is None:
        raise UsageError("--port: required (a number or a named port of the destination)")
    pairs: list[Query] = []
    total = len(src.members) * len(dst.members)
    for server in dst.members:
        number = _port_number(text, protocol=protocol, destination=server)
        for client in src.members:
            if len(pairs) < MAX_PAIRS:
                pairs.append(Query(client, server, protocol or "TCP", number))
    return Question(src, dst, tuple(pairs), total)


def _port_text(port: str | None) -> tuple[str, str | None]:
    """The port's number or name, and its protocol (None when not given)."""
    if port is None:
        return "", None
    text, _, protocol = port.partition("/")
    if not protocol:
        return text, None
    protocol = protocol.upper()
    if protocol not in PROTOCOLS:
        raise UsageError(f"--port: protocol must be one of {', '.join(PROTOCOLS)}, got {protocol}")
    return text, protocol


def _port_number(text: str, *, protocol: str | None, destination: Endpoint) -> int:
    if text.isdigit():
        number = int(text)
        if not 1 <= number <= 65535:
            raise UsageError(f"--port: must be 1-65535, got {number}")
        return number
    if not isinstance(destination, Pod):
        raise UsageError(f"--port: the named port {text} needs a pod as --to")
    numbers = destination.resolve(text, protocol or "TCP")
    if not numbers:
        raise UsageError(
            f"--port: {destination.key} has no container port named {text} ({protocol or 'TCP'})"
        )
    return numbers[0]


def _service_question(src: Target, dst: Target, *, port: str | None, service_text: str) -> Question:
    """svc/NAME:PORT: the Service port, then each selected pod's targetPort (a named target
    port resolves on each pod's container ports, and may differ from pod to pod)."""
    service = dst.service
    assert service is not None
    if port is not None and service_text:
        raise UsageError(f"--port: the port is already named in svc/{service.name}:{service_text}")
    text, protocol = _port_text(port) if port is not None else (service_text, None)
    entry = service_port(service, text, protocol=protocol, option="--to")
    pairs: list[Query] = []
    skipped: list[str] = []
    total = 0
    for server in dst.members:
        assert isinstance(server, Pod)
        number = target_port(entry, server)
        if number is None:
            skipped.append(
                f"{server.key}: no container port named {entry.target} ({entry.protocol}), "
                "so the Service sends it nothing on this port"
            )
            continue
        for client in src.members:
            total += 1
            if len(pairs) < MAX_PAIRS:
                pairs.append(Query(client, server, entry.protocol, number))
    if not pairs:
        raise UsageError(
            f"--to: no pod of Service {service.key} has the target port {entry.target} "
            f"({entry.protocol})"
        )
    return Question(
        src, dst, tuple(pairs), total, port_words=entry.describe(), skipped=tuple(skipped)
    )


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
