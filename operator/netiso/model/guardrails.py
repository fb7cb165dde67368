"""Profile guardrails: what a namespace owner's own NetworkPolicies may open, and who may opt out.

Model layer, pure. Holds the rule table (one id, one sentence of what is wrong and one of how
to fix it per rule) and violations(), the Python evaluator; the `spec.guardrails` values and
their parser are in guardrail_settings.py; rendering/validations.py writes the rules in CEL.
"""

from __future__ import annotations

import enum
import ipaddress
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final

from netiso import conventions
from netiso.model.limits import CIDR_SHAPE, Guardrails


class Rule(enum.StrEnum):
    """The guardrail rules, by the id that messages, reports and CEL share."""

    BROAD_CIDR = "broad-cidr"
    ALL_NAMESPACES = "all-namespaces"
    NO_PEERS = "no-peers"
    NO_PORTS = "no-ports"
    NAMED_PORT = "named-port"
    REQUIRED_ANNOTATION = "required-annotation"


@dataclass(frozen=True)
class RuleText:
    """What a violation of a rule means to a namespace owner, and what to do instead."""

    problem: str
    fix: str


RULE_TEXTS: Final[Mapping[Rule, RuleText]] = {
    Rule.BROAD_CIDR: RuleText(
        problem="this ipBlock opens a range broader than the profile allows",
        fix="Name the addresses you need with a narrower CIDR",
    ),
    Rule.ALL_NAMESPACES: RuleText(
        problem="an empty namespaceSelector admits every namespace of the cluster",
        fix="Select the namespaces you need by label",
    ),
    Rule.NO_PEERS: RuleText(
        problem="a rule without peers admits traffic from or to everywhere",
        fix="List the pods, namespaces or addresses the rule is for",
    ),
    Rule.NO_PORTS: RuleText(
        problem="a rule (or port entry) without a port opens every port",
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


def violation_message(rule: Rule, paths: str) -> str:
    """The message for `rule` at `paths` (one path, or several joined by ", ")."""
    before, after = message_parts(rule)
    return f"{before}{paths}{after}"


@dataclass(frozen=True)
class Violation:
    """One guardrail broken by one field of a NetworkPolicy.

    `exception` is the value of the policy's exception annotation, or None: a policy with an
    exception is admitted, and its violations are still reported, as exceptions.
    """

    rule: Rule
    path: str
    message: str
    namespace: str
    policy: str
    exception: str | None = None


def exception_of(policy: Mapping[str, Any]) -> str | None:
    """The policy's non-empty exception annotation, or None."""
    annotations = _mapping(_mapping(policy.get("metadata")).get("annotations"))
    value = annotations.get(conventions.EXCEPTION_ANNOTATION)
    return value if isinstance(value, str) and value != "" else None


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
    yield (
        Rule.BROAD_CIDR,
        [
            f"{path}.{peers_key}[{index}].ipBlock.cidr"
            for path, rule, peers_key in rules
            for index, peer in enumerate(_list(rule.get(peers_key)))
            if isinstance(peer, Mapping) and isinstance(peer.get("ipBlock"), Mapping)
            if _too_broad(peer["ipBlock"].get("cidr"), guardrails)
        ],
    )
    yield (
        Rule.ALL_NAMESPACES,
        [
            f"{path}.{peers_key}[{index}].namespaceSelector"
            for path, rule, peers_key in rules
            if not guardrails.allow_all_namespaces
            for index, peer in enumerate(_list(rule.get(peers_key)))
            if isinstance(peer, Mapping) and _selects_all(peer.get("namespaceSelector"))
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
    for direction, peers_key in (("ingress", "from"), ("egress", "to")):
        for index, rule in enumerate(_list(spec.get(direction))):
            if isinstance(rule, Mapping):
                yield f"spec.{direction}[{index}]", rule, peers_key


def _portless(path: str, rule: Mapping[str, Any]) -> list[str]:
    ports = _list(rule.get("ports"))
    if not ports:
        return [f"{path}.ports"]
    # `{protocol: TCP}` without a port is every TCP port.
    return [
        f"{path}.ports[{index}].port"
        for index, port in enumerate(ports)
        if isinstance(port, Mapping) and port.get("port") is None
    ]


def _too_broad(cidr: object, guardrails: Guardrails) -> bool:
    """Whether an ipBlock CIDR is broader than the family's minimum and in no allowed CIDR.

    A CIDR that does not parse counts as too broad: nothing shows it is narrow (the API
    server rejects most such values first; CEL treats them alike).
    """
    if not isinstance(cidr, str) or not CIDR_SHAPE.fullmatch(cidr):
        return True
    try:
        network = ipaddress.ip_network(cidr, strict=False)
    except ValueError:
        return True
    minimum = guardrails.min_prefix_ipv4 if network.version == 4 else guardrails.min_prefix_ipv6
    if network.prefixlen >= minimum:
        return False
    return not any(
        network.version == allowed.version and network.subnet_of(allowed)  # type: ignore[arg-type]
        for allowed in map(ipaddress.ip_network, guardrails.allowed_cidrs)
    )


def _selects_all(selector: object) -> bool:
    """`namespaceSelector: {}` (present, with no labels and no expressions): every namespace."""
    if not isinstance(selector, Mapping):
        return False
    return not _mapping(selector.get("matchLabels")) and not _list(selector.get("matchExpressions"))


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _list(value: object) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else []
