"""Profile guardrails: what a namespace owner's own NetworkPolicies may open, and who may opt out.

Model layer, pure. Holds the `spec.guardrails` values, their parser, the rule table (one id,
one sentence of what is wrong and one of how to fix it per rule) and violations(), the Python
evaluator; rendering/admission.py writes the same rules in CEL for admission.
"""

from __future__ import annotations

import enum
import ipaddress
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final

from netiso import conventions
from netiso.model.fields import FieldTree, ObjectReader, items_of, json_type, shown
from netiso.model.names import label_key_problem
from netiso.model.problems import Problem

MAX_ALLOWED_CIDRS: Final = 32
MAX_REQUIRED_ANNOTATIONS: Final = 16
MAX_OPT_OUT_GROUPS: Final = 32
MAX_GROUP_LENGTH: Final = 256
# Broader than a /8 (IPv4) or a /32 (IPv6) is a slice of the internet, not a service: these
# defaults forbid 0.0.0.0/0 and ::/0 and also the 0.0.0.0/1 + 128.0.0.0/1 pair that a
# "no /0" rule lets through.
DEFAULT_MIN_PREFIX_IPV4: Final = 8
DEFAULT_MIN_PREFIX_IPV6: Final = 32
MAX_PREFIX_IPV4: Final = 32
MAX_PREFIX_IPV6: Final = 128


class Action(enum.StrEnum):
    """What admission does with a violating policy: reject it, admit it with a warning, or
    admit it and record the violation in the audit log only (the staged rollout)."""

    DENY = "Deny"
    WARN = "Warn"
    AUDIT = "Audit"


class OptOut(enum.StrEnum):
    """Whether anyone who may edit a namespace may remove or change its opt-in label."""

    ALLOWED = "Allowed"
    RESTRICTED = "Restricted"


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
class Guardrails:
    """A profile's `spec.guardrails`; the defaults are the CRD's.

    A minimum prefix length of 0 turns the broad-cidr rule off for that family; an ipBlock
    inside one of `allowed_cidrs` passes whatever its length.
    """

    action: Action = Action.WARN
    min_prefix_ipv4: int = DEFAULT_MIN_PREFIX_IPV4
    min_prefix_ipv6: int = DEFAULT_MIN_PREFIX_IPV6
    allowed_cidrs: tuple[str, ...] = ()
    allow_all_namespaces: bool = False
    allow_rules_without_peers: bool = False
    allow_rules_without_ports: bool = False
    allow_named_ports: bool = False
    required_annotations: tuple[str, ...] = ()
    opt_out: OptOut = OptOut.RESTRICTED
    opt_out_groups: tuple[str, ...] = ()

    def to_spec(self) -> dict[str, Any]:
        """The guardrails in CRD form, defaults filled in and empty lists omitted."""
        ip_blocks: dict[str, Any] = {
            "minPrefixLengthIPv4": self.min_prefix_ipv4,
            "minPrefixLengthIPv6": self.min_prefix_ipv6,
        }
        if self.allowed_cidrs:
            ip_blocks["allowedCIDRs"] = list(self.allowed_cidrs)
        body: dict[str, Any] = {
            "action": str(self.action),
            "ipBlocks": ip_blocks,
            "allowAllNamespaces": self.allow_all_namespaces,
            "allowRulesWithoutPeers": self.allow_rules_without_peers,
            "allowRulesWithoutPorts": self.allow_rules_without_ports,
            "allowNamedPorts": self.allow_named_ports,
            "optOut": str(self.opt_out),
        }
        if self.required_annotations:
            body["requiredAnnotations"] = list(self.required_annotations)
        if self.opt_out_groups:
            body["optOutGroups"] = list(self.opt_out_groups)
        return body


IP_BLOCKS_FIELDS: Final[FieldTree] = {
    "minPrefixLengthIPv4": {},
    "minPrefixLengthIPv6": {},
    "allowedCIDRs": {},
}
GUARDRAILS_FIELDS: Final[FieldTree] = {
    "action": {},
    "ipBlocks": IP_BLOCKS_FIELDS,
    "allowAllNamespaces": {},
    "allowRulesWithoutPeers": {},
    "allowRulesWithoutPorts": {},
    "allowNamedPorts": {},
    "requiredAnnotations": {},
    "optOut": {},
    "optOutGroups": {},
}


def parse_guardrails(reader: ObjectReader) -> Guardrails:
    """Read `spec.guardrails` through `reader` (built on GUARDRAILS_FIELDS); problems go to
    the reader's list and the field keeps its default."""
    blocks = reader.child("ipBlocks", IP_BLOCKS_FIELDS)
    return Guardrails(
        action=reader.choice("action", Action, default=Action.WARN),
        min_prefix_ipv4=_prefix(
            blocks, "minPrefixLengthIPv4", default=DEFAULT_MIN_PREFIX_IPV4, maximum=MAX_PREFIX_IPV4
        ),
        min_prefix_ipv6=_prefix(
            blocks, "minPrefixLengthIPv6", default=DEFAULT_MIN_PREFIX_IPV6, maximum=MAX_PREFIX_IPV6
        ),
        allowed_cidrs=_strings(
            blocks, "allowedCIDRs", max_items=MAX_ALLOWED_CIDRS, problem_of=_cidr_problem
        ),
        allow_all_namespaces=reader.boolean("allowAllNamespaces", default=False),
        allow_rules_without_peers=reader.boolean("allowRulesWithoutPeers", default=False),
        allow_rules_without_ports=reader.boolean("allowRulesWithoutPorts", default=False),
        allow_named_ports=reader.boolean("allowNamedPorts", default=False),
        required_annotations=_strings(
            reader,
            "requiredAnnotations",
            max_items=MAX_REQUIRED_ANNOTATIONS,
            problem_of=_annotation_problem,
        ),
        opt_out=reader.choice("optOut", OptOut, default=OptOut.RESTRICTED),
        opt_out_groups=_strings(
            reader, "optOutGroups", max_items=MAX_OPT_OUT_GROUPS, problem_of=_group_problem
        ),
    )


def _prefix(reader: ObjectReader, key: str, *, default: int, maximum: int) -> int:
    value = reader.get(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        reader.problem(key, f"must be an integer, got {json_type(value)}")
        return default
    if not 0 <= value <= maximum:
        reader.problem(key, f"must be 0..{maximum}, got {value}")
        return default
    return value


def _strings(
    reader: ObjectReader,
    key: str,
    *,
    max_items: int,
    problem_of: Callable[[str], str | None],
) -> tuple[str, ...]:
    path = reader.path_of(key)
    values: list[str] = []
    for index, item in enumerate(
        items_of(reader.get(key), path=path, problems=reader.problems, max_items=max_items)
    ):
        item_path = f"{path}[{index}]"
        if not isinstance(item, str):
            reader.problems.append(Problem(item_path, f"must be a string, got {json_type(item)}"))
        elif problem := problem_of(item):
            reader.problems.append(Problem(item_path, f"{problem}, got {shown(item)}"))
        elif item in values:
            reader.problems.append(Problem(item_path, f"duplicate {shown(item)}"))
        else:
            values.append(item)
    return tuple(values)


# A CIDR must spell its prefix length; ipaddress would also take "10.0.0.0/255.0.0.0".
_CIDR_SHAPE: Final = re.compile(r"[0-9A-Fa-f:.]+/[0-9]{1,3}")


def _cidr_problem(value: str) -> str | None:
    if not _CIDR_SHAPE.fullmatch(value):
        return "must be a CIDR such as 203.0.113.0/24"
    try:
        ipaddress.ip_network(value, strict=True)
    except ValueError:
        return "must be a CIDR without host bits, such as 203.0.113.0/24"
    return None


def _annotation_problem(value: str) -> str | None:
    problem = label_key_problem(value)
    return None if problem is None else f"must be an annotation key: {problem}"


def _group_problem(value: str) -> str | None:
    if not value or len(value) > MAX_GROUP_LENGTH:
        return f"must be 1..{MAX_GROUP_LENGTH} characters"
    return None


# --- the evaluator ---------------------------------------------------------------------------


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
    if not isinstance(cidr, str) or not _CIDR_SHAPE.fullmatch(cidr):
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
