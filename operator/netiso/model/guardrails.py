"""Profile guardrails: what a namespace owner's own NetworkPolicies may open, and who may opt out.

Model layer, pure. Holds the rule table (one id, one sentence of what is wrong and one of how
to fix it per rule) and violations(), the Python evaluator; the `spec.guardrails` values are
in limits.py, what a policy opens is measured in breadths.py, rendering/cel.py writes the
same rules in CEL.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from netiso import conventions
from netiso.model.breadths import (
    Block,
    broad_paths,
    covered_protocols,
    numeric_range,
    parse_cidr,
    protocol_of,
    selects_every_namespace,
)
from netiso.model.limits import Guardrails
from netiso.model.reasons import is_visible
from netiso.model.rules import Rule as Rule  # the rules are named there, used from here

# (direction, peers key), ingress first: the order of every list of paths.
DIRECTIONS: Final = (("ingress", "from"), ("egress", "to"))


@dataclass(frozen=True)
class RuleText:
    """What a violation of a rule means to a namespace owner, and what to do instead."""

    problem: str
    fix: str


RULE_TEXTS: Final[Mapping[Rule, RuleText]] = {
    Rule.BROAD_CIDR: RuleText(
        problem=(
            "the ipBlocks of this direction together open more addresses than the profile allows"
        ),
        fix="Name the addresses you need with narrower CIDRs",
    ),
    Rule.ALL_NAMESPACES: RuleText(
        problem="this namespaceSelector admits every namespace of the cluster",
        fix="Select the namespaces you need by label",
    ),
    Rule.NO_PEERS: RuleText(
        problem="a rule without peers admits traffic from or to everywhere",
        fix="List the pods, namespaces or addresses the rule is for",
    ),
    Rule.NO_PORTS: RuleText(
        problem=(
            "a rule or port entry without a port, or port ranges that together cover a "
            "protocol, open every port"
        ),
        fix="List the ports the traffic needs",
    ),
    Rule.NAMED_PORT: RuleText(
        problem="a named port lets any pod choose the real port number",
        fix="Use the port number",
    ),
    Rule.REQUIRED_ANNOTATION: RuleText(
        problem="the profile requires this annotation on every NetworkPolicy",
        fix="Add the annotation with a non-empty value",
    ),
}


EXCEPTION_ADVICE: Final = (
    f"or ask for an exception and record it on the policy as the annotation "
    f"{conventions.EXCEPTION_ANNOTATION}: <ticket or reason>."
)


def message_parts(rule: Rule) -> tuple[str, str]:
    """The text before and after the field paths in a violation message of `rule`; the CEL
    of admission puts its own list of paths between the same two parts."""
    text = RULE_TEXTS[rule]
    return f'netiso guardrail "{rule}" at ', f": {text.problem}. {text.fix}, {EXCEPTION_ADVICE}"


# Admission's message names at most this many paths, then how many more: the API server
# drops a message longer than 5,000 characters (223 /8 blocks are 223 paths).
MAX_MESSAGE_PATHS: Final = 20


def shown_paths(paths: Sequence[str]) -> str:
    """The paths as admission's message lists them: the first MAX_MESSAGE_PATHS, joined by
    ", ", then `(and N more)`."""
    if len(paths) <= MAX_MESSAGE_PATHS:
        return ", ".join(paths)
    more = len(paths) - MAX_MESSAGE_PATHS
    return f"{', '.join(paths[:MAX_MESSAGE_PATHS])} (and {more} more)"


def violation_message(rule: Rule, paths: str) -> str:
    """The message for `rule` at `paths` (one path, or several joined by ", ")."""
    before, after = message_parts(rule)
    return f"{before}{paths}{after}"


@dataclass(frozen=True)
class Violation:
    """One guardrail broken by one field of a NetworkPolicy.

    `exception` is the reason of the exception that covers it (the policy's annotation, or
    an unexpired entry of the profile's list: grants.py), or None: an excepted policy is
    admitted, and its violations are still reported, as exceptions. `lapsed` says which
    expired entry no longer covers it ("" when none).
    """

    rule: Rule
    path: str
    message: str
    namespace: str
    policy: str
    exception: str | None = None
    lapsed: str = ""


def exception_of(policy: Mapping[str, Any]) -> str | None:
    """The policy's exception annotation, or None when absent or not visible text (blank,
    whitespace or invisible characters grant nothing: reasons.is_visible)."""
    annotations = _mapping(_mapping(policy.get("metadata")).get("annotations"))
    value = annotations.get(conventions.EXCEPTION_ANNOTATION)
    return value if isinstance(value, str) and is_visible(value) else None


def is_managed(policy: Mapping[str, Any]) -> bool:
    """Whether netiso manages the policy (guardrails apply only to the others)."""
    labels = _mapping(_mapping(policy.get("metadata")).get("labels"))
    return labels.get(conventions.MANAGED_BY_LABEL) == conventions.MANAGED_BY_VALUE


def violations(
    policy: Mapping[str, Any], guardrails: Guardrails, *, namespace: str
) -> list[Violation]:
    """Every guardrail the NetworkPolicy body breaks, rule by rule in Rule order, each rule's
    fields in document order (ingress before egress), as admission's CEL lists them.

    A policy netiso manages breaks none. Fields of the wrong shape are skipped, not raised on:
    the API server rejects such a policy before guardrails matter. `namespace` is where the
    policy lives (a file in a GitOps repository may not say).
    """
    if is_managed(policy):
        return []
    name = _mapping(policy.get("metadata")).get("name")
    exception = exception_of(policy)
    found: list[Violation] = []
    for rule, paths in _rule_paths(policy, guardrails):
        found.extend(
            Violation(
                rule=rule,
                path=path,
                message=violation_message(rule, path),
                namespace=namespace,
                policy=name if isinstance(name, str) else "",
                exception=exception,
            )
            for path in paths
        )
    return found


def _rule_paths(
    policy: Mapping[str, Any], guardrails: Guardrails
) -> Iterator[tuple[Rule, list[str]]]:
    rules = list(_rules(_mapping(policy.get("spec"))))
    allowed = [
        network for network in map(parse_cidr, guardrails.allowed_cidrs) if network is not None
    ]
    minimums = {4: guardrails.min_prefix_ipv4, 6: guardrails.min_prefix_ipv6}
    yield (
        Rule.BROAD_CIDR,
        [
            path
            for direction, _ in DIRECTIONS
            for path in broad_paths(
                ip_blocks(rules, direction=direction), minimums=minimums, allowed=allowed
            )
        ],
    )
    yield (
        Rule.ALL_NAMESPACES,
        [
            f"{path}.{peers_key}[{index}].namespaceSelector"
            for path, rule, peers_key in rules
            if not guardrails.allow_all_namespaces
            for index, peer in enumerate(_list(rule.get(peers_key)))
            if isinstance(peer, Mapping) and selects_every_namespace(peer.get("namespaceSelector"))
        ],
    )
    yield (
        Rule.NO_PEERS,
        [
            f"{path}.{peers_key}"
            for path, rule, peers_key in rules
            if not guardrails.allow_rules_without_peers and not _list(rule.get(peers_key))
        ],
    )
    yield (
        Rule.NO_PORTS,
        [
            found
            for path, rule, _ in rules
            if not guardrails.allow_rules_without_ports
            for found in _portless(path, rule)
        ],
    )
    yield (
        Rule.NAMED_PORT,
        [
            f"{path}.ports[{index}].port"
            for path, rule, _ in rules
            if not guardrails.allow_named_ports
            for index, port in enumerate(_list(rule.get("ports")))
            if isinstance(port, Mapping) and isinstance(port.get("port"), str)
        ],
    )
    annotations = _mapping(_mapping(policy.get("metadata")).get("annotations"))
    yield (
        Rule.REQUIRED_ANNOTATION,
        [
            f"metadata.annotations[{key}]"
            for key in guardrails.required_annotations
            if annotations.get(key) in (None, "")
        ],
    )


def _rules(spec: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any], str]]:
    """(path, rule, peers key) of every ingress then egress rule."""
    for direction, peers_key in DIRECTIONS:
        for index, rule in enumerate(_list(spec.get(direction))):
            if isinstance(rule, Mapping):
                yield f"spec.{direction}[{index}]", rule, peers_key


def ip_blocks(
    rules: Sequence[tuple[str, Mapping[str, Any], str]], *, direction: str
) -> list[Block]:
    """The ipBlock peers of one direction's rules, in document order."""
    return [
        Block(
            path=f"{path}.{peers_key}[{index}].ipBlock.cidr",
            cidr=peer["ipBlock"].get("cidr"),
            excepted=tuple(_list(peer["ipBlock"].get("except"))),
        )
        for path, rule, peers_key in rules
        if path.startswith(f"spec.{direction}[")
        for index, peer in enumerate(_list(rule.get(peers_key)))
        if isinstance(peer, Mapping) and isinstance(peer.get("ipBlock"), Mapping)
    ]


def _portless(path: str, rule: Mapping[str, Any]) -> list[str]:
    """A rule without ports, a port entry without a port (`{protocol: TCP}`: every TCP port),
    and every numeric entry of a protocol whose entries together cover 1-65535."""
    ports = _list(rule.get("ports"))
    if not ports:
        return [f"{path}.ports"]
    covered = covered_protocols(ports)
    return [
        f"{path}.ports[{index}].port"
        for index, port in enumerate(ports)
        if isinstance(port, Mapping)
        and (
            port.get("port") is None
            or (numeric_range(port) is not None and protocol_of(port) in covered)
        )
    ]


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _list(value: object) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else []
