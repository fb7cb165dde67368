"""The guardrail rules in CEL, for the ValidatingAdmissionPolicies of rendering/validations.py.

Rendering layer, pure. One expression per rule of model/guardrails.py, listing the field paths
that break it exactly as guardrails.violations() does (tests/integration/test_admission.py runs
both on the same cases); messages are the model's, around CEL's list of paths.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Final

from netiso.model.guardrails import Rule, message_parts
from netiso.model.limits import Guardrails

# The CEL variable that lists the paths breaking each rule ("" when none does).
RULE_VARIABLES: Final[Mapping[Rule, str]] = {
    Rule.BROAD_CIDR: "broadCidr",
    Rule.ALL_NAMESPACES: "allNamespaces",
    Rule.NO_PEERS: "noPeers",
    Rule.NO_PORTS: "noPorts",
    Rule.NAMED_PORT: "namedPort",
    Rule.REQUIRED_ANNOTATION: "requiredAnnotation",
}
# (direction, peers key): the CEL variables `ingress` and `egress` hold the rules.
DIRECTIONS: Final = (("ingress", "from"), ("egress", "to"))
_GUARDRAILS: Final = "params.spec.guardrails"


def cel_string(text: str) -> str:
    """A CEL single-quoted string literal of `text`."""
    escaped = text.replace("\\", "\\\\").replace("'", "\\'")
    return f"'{escaped}'"


def _cel_list(values: Iterable[str]) -> str:
    return "[" + ", ".join(cel_string(value) for value in values) + "]"


def _cel_bool(value: bool) -> str:
    return "true" if value else "false"


def settings_from_params() -> dict[str, str]:
    """CEL variables of the guardrail settings, read from the profile (the parameter). The
    CRD defaults every field but the lists, which may be absent."""
    guard = _GUARDRAILS
    return {
        "minPrefixIPv4": f"{guard}.ipBlocks.minPrefixLengthIPv4",
        "minPrefixIPv6": f"{guard}.ipBlocks.minPrefixLengthIPv6",
        "allowedCIDRs": (
            f"has({guard}.ipBlocks.allowedCIDRs) ? {guard}.ipBlocks.allowedCIDRs : []"
        ),
        "allowAllNamespaces": f"{guard}.allowAllNamespaces",
        "allowRulesWithoutPeers": f"{guard}.allowRulesWithoutPeers",
        "allowRulesWithoutPorts": f"{guard}.allowRulesWithoutPorts",
        "allowNamedPorts": f"{guard}.allowNamedPorts",
        "requiredAnnotations": (
            f"has({guard}.requiredAnnotations) ? {guard}.requiredAnnotations : []"
        ),
    }


def settings_from_values(guardrails: Guardrails) -> dict[str, str]:
    """The same CEL variables as literals of `guardrails` (for a policy without parameter)."""
    return {
        "minPrefixIPv4": str(guardrails.min_prefix_ipv4),
        "minPrefixIPv6": str(guardrails.min_prefix_ipv6),
        "allowedCIDRs": _cel_list(guardrails.allowed_cidrs),
        "allowAllNamespaces": _cel_bool(guardrails.allow_all_namespaces),
        "allowRulesWithoutPeers": _cel_bool(guardrails.allow_rules_without_peers),
        "allowRulesWithoutPorts": _cel_bool(guardrails.allow_rules_without_ports),
        "allowNamedPorts": _cel_bool(guardrails.allow_named_ports),
        "requiredAnnotations": _cel_list(guardrails.required_annotations),
    }


def _per_direction(build: Callable[[str, str], str]) -> str:
    """Join what `build(direction, peers)` lists for ingress and then for egress."""
    parts = [build(direction, peers) for direction, peers in DIRECTIONS]
    return "[" + ", ".join(parts) + "].filter(s, s != '').join(', ')"


def _rule_path(direction: str, tail: str) -> str:
    """CEL for the path `spec.<direction>[i]<tail>`; `tail` may hold `' + expr + '` parts."""
    return f"'spec.{direction}[' + string(i) + ']{tail}'"


def _port_path(direction: str) -> str:
    return _rule_path(direction, ".ports[' + string(k) + '].port")


def _joined(direction: str, per_rule: str) -> str:
    """The non-empty results of `per_rule` (CEL over rule `r` at index `i`), joined."""
    return f"variables.{direction}.transformList(i, r, {per_rule}).filter(s, s != '').join(', ')"


def _peer_paths(direction: str, peers: str, *, predicate: str, suffix: str) -> str:
    """Paths `spec.<direction>[i].<peers>[j]<suffix>` of every peer `p` matching `predicate`."""
    path = _rule_path(direction, f".{peers}[' + string(j) + ']{suffix}")
    inner = f"r.{peers}.transformList(j, p, {predicate}, {path}).join(', ')"
    return _joined(direction, f"has(r.{peers}) ? {inner} : ''")


def _broad_cidr(direction: str, peers: str) -> str:
    cidr = "p.ipBlock.cidr"
    # A value CEL cannot parse counts as broad, as in the model.
    broad = (
        f"has(p.ipBlock) && (!isCIDR({cidr}) || (cidr({cidr}).prefixLength() < "
        f"(cidr({cidr}).ip().family() == 4 ? variables.minPrefixIPv4 : variables.minPrefixIPv6)"
        f" && !variables.allowedCIDRs.exists(a, cidr(a).containsCIDR({cidr}))))"
    )
    return _peer_paths(direction, peers, predicate=broad, suffix=".ipBlock.cidr")


def _all_namespaces(direction: str, peers: str) -> str:
    selector = "p.namespaceSelector"
    empty = (
        f"has({selector}) && (!has({selector}.matchLabels) || size({selector}.matchLabels) == 0)"
        f" && (!has({selector}.matchExpressions) || size({selector}.matchExpressions) == 0)"
    )
    paths = _peer_paths(direction, peers, predicate=empty, suffix=".namespaceSelector")
    return f"variables.allowAllNamespaces ? '' : {paths}"


def _no_peers(direction: str, peers: str) -> str:
    path = _rule_path(direction, f".{peers}")
    return (
        f"variables.allowRulesWithoutPeers ? '' : variables.{direction}.transformList(i, r, "
        f"!has(r.{peers}) || size(r.{peers}) == 0, {path}).join(', ')"
    )


def _no_ports(direction: str, peers: str) -> str:
    # `{protocol: TCP}` without a port is every TCP port.
    portless = f"r.ports.transformList(k, pt, !has(pt.port), {_port_path(direction)}).join(', ')"
    per_rule = (
        f"!has(r.ports) || size(r.ports) == 0 ? {_rule_path(direction, '.ports')} : {portless}"
    )
    return f"variables.allowRulesWithoutPorts ? '' : {_joined(direction, per_rule)}"


def _named_port(direction: str, peers: str) -> str:
    named = (
        "r.ports.transformList(k, pt, has(pt.port) && type(pt.port) == string, "
        f"{_port_path(direction)}).join(', ')"
    )
    per_rule = f"has(r.ports) ? {named} : ''"
    return f"variables.allowNamedPorts ? '' : {_joined(direction, per_rule)}"


def _required_annotation() -> str:
    annotations = "object.metadata.annotations"
    return (
        f"variables.requiredAnnotations.filter(k, !has({annotations}) || !(k in {annotations})"
        f" || {annotations}[k] == '').map(k, 'metadata.annotations[' + k + ']').join(', ')"
    )


def rule_expressions() -> dict[Rule, str]:
    """Each rule's CEL expression: the paths that break it, joined by ", " ("" for none)."""
    return {
        Rule.BROAD_CIDR: _per_direction(_broad_cidr),
        Rule.ALL_NAMESPACES: _per_direction(_all_namespaces),
        Rule.NO_PEERS: _per_direction(_no_peers),
        Rule.NO_PORTS: _per_direction(_no_ports),
        Rule.NAMED_PORT: _per_direction(_named_port),
        Rule.REQUIRED_ANNOTATION: _required_annotation(),
    }


def rule_message(rule: Rule) -> str:
    """CEL for the model's violation message of `rule`, around the rule variable's paths."""
    before, after = message_parts(rule)
    return f"{cel_string(before)} + variables.{RULE_VARIABLES[rule]} + {cel_string(after)}"
