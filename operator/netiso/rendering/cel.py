"""The guardrail rules in CEL, for the ValidatingAdmissionPolicies of rendering/validations.py.

Rendering layer, pure. One expression per rule of model/guardrails.py, listing the field paths
that break it exactly as guardrails.violations() does (tests/integration/test_admission.py runs
both on the same cases); messages are the model's, around CEL's list of paths.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Final

from netiso import conventions
from netiso.model.breadths import (
    CAPPED_UNITS,
    DEFAULT_PROTOCOL,
    GRANULE,
    LIMIT_UNITS,
    MAX_EXPONENT,
    MAX_PORT,
    MIN_PORT,
)
from netiso.model.guardrails import DIRECTIONS, MAX_MESSAGE_PATHS, Rule, message_parts
from netiso.model.limits import Guardrails

PROTOCOLS: Final = ("TCP", "UDP", "SCTP")

# The CEL variable that lists the paths breaking each rule ("" when none does).
RULE_VARIABLES: Final[Mapping[Rule, str]] = {
    Rule.BROAD_CIDR: "broadCidr",
    Rule.ALL_NAMESPACES: "allNamespaces",
    Rule.NO_PEERS: "noPeers",
    Rule.NO_PORTS: "noPorts",
    Rule.NAMED_PORT: "namedPort",
    Rule.REQUIRED_ANNOTATION: "requiredAnnotation",
}
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
        # The profile's listed exceptions for this policy (model/grants.py). CEL has no clock:
        # an entry admits until it is removed; the operator judges its expiry.
        "listedExceptions": (
            f"has({guard}.exceptions) ? {guard}.exceptions.filter(e, "
            "e.namespace == request.namespace && e.policy == object.metadata.name) : []"
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
        # A policy without parameter has no profile to list exceptions in.
        "listedExceptions": "[]",
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


def _power(exponent: str) -> str:
    """CEL for 2**exponent (0..MAX_EXPONENT); CEL has no power or shift on integers."""
    return f"variables.powers[{exponent}]"


def _exponent(minimum: str, network: str) -> str:
    return f"({GRANULE} + {minimum} - cidr({network}).prefixLength())"


def _family_minimum(network: str) -> str:
    return (
        f"(cidr({network}).ip().family() == 4 ? variables.minPrefixIPv4 : variables.minPrefixIPv6)"
    )


def ip_block_variables() -> dict[str, str]:
    """Per direction, the lists breadths.broad_paths() works on, and the unit count of each
    family: the ipBlocks of every rule flattened in document order (CIDR, exceptions, path),
    whether each is counted (readable, its family on, in no allowed CIDR)."""
    found: dict[str, str] = {
        "powers": "[" + ", ".join(str(2**n) for n in range(MAX_EXPONENT + 1)) + "]"
    }
    for direction, peers in DIRECTIONS:
        rules = f"variables.{direction}"
        blocks = f"has(r.{peers}) ? r.{peers}.filter(p, has(p.ipBlock))"
        found[f"{direction}Cidrs"] = (
            f"{rules}.map(r, {blocks}.map(p, p.ipBlock.cidr) : []).flatten()"
        )
        found[f"{direction}Excepts"] = (
            f"{rules}.map(r, {blocks}.map(p, has(p.ipBlock.except) ? p.ipBlock.except : []) "
            ": []).flatten()"
        )
        path = _rule_path(direction, f".{peers}[' + string(j) + '].ipBlock.cidr")
        found[f"{direction}CidrPaths"] = (
            f"{rules}.transformList(i, r, has(r.{peers}) ? r.{peers}.transformList(j, p, "
            f"has(p.ipBlock), {path}) : []).flatten()"
        )
        # Parsed once: the pairwise comparisons below would parse each CIDR again each time.
        found[f"{direction}Nets"] = (
            f"variables.{direction}Cidrs.map(c, isCIDR(c) ? cidr(c) : cidr('0.0.0.0/32'))"
        )
        found[f"{direction}Counted"] = (
            f"variables.{direction}Cidrs.map(c, isCIDR(c) && {_family_minimum('c')} > 0 && "
            "!variables.allowedCIDRs.exists(a, cidr(a).containsCIDR(c)))"
        )
        for family in (4, 6):
            found[f"{direction}Units{family}"] = _family_units(direction, family)
    return found


def _family_units(direction: str, family: int) -> str:
    """CEL for the unit count of one family's counted ipBlocks in one direction."""
    cidrs = f"variables.{direction}Cidrs"
    counted = f"variables.{direction}Counted"
    excepts = f"variables.{direction}Excepts[k]"
    minimum = f"variables.minPrefixIPv{family}"
    nets = f"variables.{direction}Nets"
    outer = (
        f"!{nets}.exists(m, d, m != k && {counted}[m] && d.containsCIDR({nets}[k]) && "
        f"(d.prefixLength() < {nets}[k].prefixLength() || m < k))"
    )
    hole_outermost = (
        f"!{excepts}.exists(y, g, y != x && isCIDR(g) && cidr(g).containsCIDR(h) && "
        "(cidr(g).prefixLength() < cidr(h).prefixLength() || y < x))"
    )
    hole_alone = (
        f"!{cidrs}.exists(m, d, m != k && {counted}[m] && "
        "(cidr(d).containsCIDR(h) || cidr(h).containsCIDR(d)))"
    )
    hole_exponent = _exponent(minimum, "h")
    removed = (
        f"{excepts}.transformList(x, h, isCIDR(h) && cidr(c).containsCIDR(h) && "
        f"{hole_outermost} && {hole_alone}, {hole_exponent} < 0 ? 0 : "
        f"{_power(hole_exponent)}).sum()"
    )
    exponent = _exponent(minimum, "c")
    whole = f"({exponent} < 0 ? 1 : {_power(exponent)})"
    term = (
        f"{exponent} > {MAX_EXPONENT} ? {CAPPED_UNITS} : "
        f"[{CAPPED_UNITS}, [0, {whole} - {removed}].max()].min()"
    )
    exact = (
        f"{cidrs}.transformList(k, c, {counted}[k] && cidr(c).ip().family() == {family} && "
        f"{outer}, {term}).sum()"
    )
    # Every counted block in full first (an upper bound, in one pass): when that is within
    # the limit, so is the count, and the pairwise count (the CEL cost grows with its square)
    # is not needed: a policy of many narrow blocks stays within the API server's CEL budget.
    upper = (
        f"{cidrs}.transformList(k, c, {counted}[k] && cidr(c).ip().family() == {family}, "
        f"{exponent} > {MAX_EXPONENT} ? {CAPPED_UNITS} : [{CAPPED_UNITS}, {whole}].min()).sum()"
    )
    return f"{upper} <= {LIMIT_UNITS} ? 0 : {exact}"


def _broad_cidr(direction: str, peers: str) -> str:
    over = (
        f"(cidr(c).ip().family() == 4 ? variables.{direction}Units4 : "
        f"variables.{direction}Units6) > {LIMIT_UNITS}"
    )
    # A value CEL cannot parse counts as broad, as in the model.
    return (
        f"variables.{direction}Cidrs.transformList(k, c, !isCIDR(c) || "
        f"(variables.{direction}Counted[k] && {over}), variables.{direction}CidrPaths[k])"
        ".join(', ')"
    )


def _all_namespaces(direction: str, peers: str) -> str:
    selector = "p.namespaceSelector"
    name = cel_string(conventions.NAMESPACE_NAME_LABEL)
    every = (
        f"has({selector}) && (!has({selector}.matchLabels) || size({selector}.matchLabels) == 0)"
        f" && (!has({selector}.matchExpressions) || {selector}.matchExpressions.all(e, "
        f"e.key == {name} && e.operator == 'Exists'))"
    )
    paths = _peer_paths(direction, peers, predicate=every, suffix=".namespaceSelector")
    return f"variables.allowAllNamespaces ? '' : {paths}"


def _no_peers(direction: str, peers: str) -> str:
    path = _rule_path(direction, f".{peers}")
    return (
        f"variables.allowRulesWithoutPeers ? '' : variables.{direction}.transformList(i, r, "
        f"!has(r.{peers}) || size(r.{peers}) == 0, {path}).join(', ')"
    )


def _protocol(entry: str) -> str:
    return f"(has({entry}.protocol) ? {entry}.protocol : {cel_string(DEFAULT_PROTOCOL)})"


def covered_variables() -> dict[str, str]:
    """Per direction, for each rule, the protocols its numeric port entries cover whole
    (breadths.covered_protocols): port 1 covered, and the port after each range too."""
    found: dict[str, str] = {}
    for direction, _ in DIRECTIONS:

        def numeric(entry: str) -> str:
            return f"has({entry}.port) && type({entry}.port) == int && {_protocol(entry)} == proto"

        def last(entry: str) -> str:
            return f"(has({entry}.endPort) ? {entry}.endPort : {entry}.port)"

        covered = (
            f"r.ports.exists(q, {numeric('q')} && q.port <= {MIN_PORT} && "
            f"{last('q')} >= {MIN_PORT}) && r.ports.all(e, !({numeric('e')}) || "
            f"{last('e')} >= {MAX_PORT} || r.ports.exists(q, {numeric('q')} && "
            f"q.port <= {last('e')} + 1 && {last('q')} >= {last('e')} + 1))"
        )
        protocols = _cel_list(PROTOCOLS)
        found[f"{direction}Covered"] = (
            f"variables.{direction}.map(r, has(r.ports) ? "
            f"{protocols}.filter(proto, {covered}) : [])"
        )
    return found


def _no_ports(direction: str, peers: str) -> str:
    # `{protocol: TCP}` without a port is every TCP port; so are ranges covering 1-65535.
    flagged = (
        f"!has(pt.port) || (type(pt.port) == int && "
        f"{_protocol('pt')} in variables.{direction}Covered[i])"
    )
    portless = f"r.ports.transformList(k, pt, {flagged}, {_port_path(direction)}).join(', ')"
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
    found = f"variables.{RULE_VARIABLES[rule]}"
    listed = f"{found}.split(', ')"
    limit = MAX_MESSAGE_PATHS
    shown = (
        f"({listed}.size() <= {limit} ? {found} : {listed}.slice(0, {limit}).join(', ') + "
        f"' (and ' + string({listed}.size() - {limit}) + ' more)')"
    )
    return f"{cel_string(before)} + {shown} + {cel_string(after)}"
