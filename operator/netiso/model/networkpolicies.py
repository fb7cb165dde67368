"""NetworkPolicy objects checked as the API server checks them on create (networking.k8s.io/v1).

Model layer, pure. Mirrors the API's decoding (strict field validation, int32 ports, intstr) and
pkg/apis/networking/validation: port numbers and names, endPort, protocols, policyTypes, peers,
label selectors and ipBlock CIDRs (the legacy, "sloppy" CIDR parser: IPv4 octets may have
leading zeros). tests/integration/test_check_agreement.py holds it to the real API server.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from typing import Any, Final

from netiso.model.fields import json_type, shown
from netiso.model.names import (
    dns1123_label_problem,
    dns1123_subdomain_problem,
    label_key_problem,
    label_value_problem,
    port_name_problem,
)
from netiso.model.problems import Problem

_INT32_MAX: Final = 2**31 - 1
_PROTOCOLS: Final = ("TCP", "UDP", "SCTP")
_POLICY_TYPES: Final = ("Ingress", "Egress")
_TOP_KEYS: Final = frozenset({"apiVersion", "kind", "metadata", "spec", "status"})
_SPEC_KEYS: Final = frozenset({"podSelector", "policyTypes", "ingress", "egress"})
_PEER_KEYS: Final = frozenset({"podSelector", "namespaceSelector", "ipBlock"})
_PORT_KEYS: Final = frozenset({"protocol", "port", "endPort"})
_SELECTOR_KEYS: Final = frozenset({"matchLabels", "matchExpressions"})
_REQUIREMENT_KEYS: Final = frozenset({"key", "operator", "values"})
_IP_BLOCK_KEYS: Final = frozenset({"cidr", "except"})
_OCTETS: Final = re.compile(r"\d+(\.\d+){3}")
CIDR_RULE: Final = "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)"


def network_policy_problems(body: Mapping[str, Any]) -> list[Problem]:
    """What the API server would refuse in a NetworkPolicy, with field paths; [] when valid."""
    problems: list[Problem] = []
    _unknown(body, allowed=_TOP_KEYS, path="", problems=problems)
    _metadata(body.get("metadata"), problems=problems)
    spec = body.get("spec")
    if spec is not None:
        if isinstance(spec, Mapping):
            _spec(spec, problems=problems)
        else:
            problems.append(Problem("spec", f"must be an object, got {json_type(spec)}"))
    return problems


def _unknown(
    value: Mapping[str, Any], *, allowed: frozenset[str], path: str, problems: list[Problem]
) -> None:
    prefix = f"{path}." if path else ""
    problems.extend(
        Problem(f"{prefix}{key}", "unknown field") for key in value if key not in allowed
    )


def _metadata(raw: object, *, problems: list[Problem]) -> None:
    if not isinstance(raw, Mapping):
        problems.append(Problem("metadata", f"must be an object, got {json_type(raw)}"))
        return
    name = raw.get("name")
    if name is None and raw.get("generateName") is None:
        problems.append(Problem("metadata.name", "required"))
    elif name is not None:
        if not isinstance(name, str):
            problems.append(Problem("metadata.name", f"must be a string, got {json_type(name)}"))
        elif problem := dns1123_subdomain_problem(name):
            problems.append(Problem("metadata.name", f"{problem}, got {shown(name)}"))
    namespace = raw.get("namespace")
    if namespace is not None:
        if not isinstance(namespace, str):
            problems.append(
                Problem("metadata.namespace", f"must be a string, got {json_type(namespace)}")
            )
        elif namespace and (problem := dns1123_label_problem(namespace)):
            problems.append(Problem("metadata.namespace", f"{problem}, got {shown(namespace)}"))


def _spec(spec: Mapping[str, Any], *, problems: list[Problem]) -> None:
    _unknown(spec, allowed=_SPEC_KEYS, path="spec", problems=problems)
    _selector(spec.get("podSelector"), path="spec.podSelector", problems=problems)
    types = _list(spec.get("policyTypes"), path="spec.policyTypes", problems=problems)
    if len(types) > len(_POLICY_TYPES):
        problems.append(Problem("spec.policyTypes", "may not specify more than two policyTypes"))
    for index, item in enumerate(types):
        if item not in _POLICY_TYPES:
            problems.append(
                Problem(
                    f"spec.policyTypes[{index}]",
                    f"must be Ingress or Egress, got {shown(item)}",
                )
            )
    for field, peers_field in (("ingress", "from"), ("egress", "to")):
        path = f"spec.{field}"
        for index, rule in enumerate(_list(spec.get(field), path=path, problems=problems)):
            _rule(rule, peers_field=peers_field, path=f"{path}[{index}]", problems=problems)


def _list(raw: object, *, path: str, problems: list[Problem]) -> list[Any]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        problems.append(Problem(path, f"must be an array, got {json_type(raw)}"))
        return []
    return raw


def _object(raw: object, *, path: str, problems: list[Problem]) -> Mapping[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        problems.append(Problem(path, f"must be an object, got {json_type(raw)}"))
        return {}
    return raw


def _rule(raw: object, *, peers_field: str, path: str, problems: list[Problem]) -> None:
    rule = _object(raw, path=path, problems=problems)
    _unknown(rule, allowed=frozenset({peers_field, "ports"}), path=path, problems=problems)
    ports_path = f"{path}.ports"
    for index, port in enumerate(_list(rule.get("ports"), path=ports_path, problems=problems)):
        _port(port, path=f"{ports_path}[{index}]", problems=problems)
    peers_path = f"{path}.{peers_field}"
    for index, peer in enumerate(_list(rule.get(peers_field), path=peers_path, problems=problems)):
        _peer(peer, path=f"{peers_path}[{index}]", problems=problems)


def _port(raw: object, *, path: str, problems: list[Problem]) -> None:
    port = _object(raw, path=path, problems=problems)
    _unknown(port, allowed=_PORT_KEYS, path=path, problems=problems)
    protocol = port.get("protocol")
    if protocol is not None and protocol not in _PROTOCOLS:
        problems.append(
            Problem(f"{path}.protocol", f"must be one of TCP, UDP, SCTP, got {shown(protocol)}")
        )
    number, end = port.get("port"), port.get("endPort")
    if end is not None and not _is_int32(end):
        problems.append(Problem(f"{path}.endPort", f"must be an integer, got {shown(end)}"))
        end = None
    elif end is not None and not 1 <= end <= 65535:
        problems.append(Problem(f"{path}.endPort", f"must be 1-65535, got {end}"))
        end = None
    if number is None:
        if end is not None:
            problems.append(Problem(f"{path}.endPort", "may not be specified without `port`"))
    elif isinstance(number, str):
        if problem := port_name_problem(number):
            problems.append(Problem(f"{path}.port", f"{problem}, got {shown(number)}"))
        if end is not None:
            problems.append(Problem(f"{path}.endPort", "may not be specified with a named `port`"))
    elif not _is_int32(number):
        problems.append(
            Problem(f"{path}.port", f"must be a port number or name, got {shown(number)}")
        )
    elif not 1 <= number <= 65535:
        problems.append(Problem(f"{path}.port", f"must be 1-65535, got {number}"))
    elif end is not None and end < number:
        problems.append(
            Problem(f"{path}.endPort", f"must be at least `port` ({number}), got {end}")
        )


def _is_int32(value: object) -> bool:
    # JSON decoding into int32 refuses fractions, booleans, strings and anything wider.
    return type(value) is int and -_INT32_MAX - 1 <= value <= _INT32_MAX


def _peer(raw: object, *, path: str, problems: list[Problem]) -> None:
    peer = _object(raw, path=path, problems=problems)
    _unknown(peer, allowed=_PEER_KEYS, path=path, problems=problems)
    present = [
        key for key in ("podSelector", "namespaceSelector", "ipBlock") if peer.get(key) is not None
    ]
    if not present:
        problems.append(
            Problem(path, "must specify a peer (podSelector, namespaceSelector or ipBlock)")
        )
    elif "ipBlock" in present and len(present) > 1:
        problems.append(Problem(path, "may not specify both ipBlock and another peer"))
    for key in ("podSelector", "namespaceSelector"):
        if peer.get(key) is not None:
            _selector(peer[key], path=f"{path}.{key}", problems=problems)
    if peer.get("ipBlock") is not None:
        _ip_block(peer["ipBlock"], path=f"{path}.ipBlock", problems=problems)


def _selector(raw: object, *, path: str, problems: list[Problem]) -> None:
    """A LabelSelector as ValidateLabelSelector sees it (no size limits: the API has none)."""
    selector = _object(raw, path=path, problems=problems)
    _unknown(selector, allowed=_SELECTOR_KEYS, path=path, problems=problems)
    labels = _object(selector.get("matchLabels"), path=f"{path}.matchLabels", problems=problems)
    for key, value in labels.items():
        entry = f"{path}.matchLabels[{shown(key)}]"
        if problem := label_key_problem(str(key)):
            problems.append(Problem(entry, f"invalid label key: {problem}"))
        if not isinstance(value, str):
            problems.append(Problem(entry, f"must be a string, got {json_type(value)}"))
        elif problem := label_value_problem(value):
            problems.append(Problem(entry, f"invalid label value {shown(value)}: {problem}"))
    expressions_path = f"{path}.matchExpressions"
    for index, item in enumerate(
        _list(selector.get("matchExpressions"), path=expressions_path, problems=problems)
    ):
        _requirement(item, path=f"{expressions_path}[{index}]", problems=problems)


def _requirement(raw: object, *, path: str, problems: list[Problem]) -> None:
    requirement = _object(raw, path=path, problems=problems)
    _unknown(requirement, allowed=_REQUIREMENT_KEYS, path=path, problems=problems)
    key, operator = requirement.get("key"), requirement.get("operator")
    if not isinstance(key, str) or (problem := label_key_problem(key)) is not None:
        reason = "must be a string" if not isinstance(key, str) else problem
        problems.append(Problem(f"{path}.key", f"invalid label key {shown(key)}: {reason}"))
    values = _list(requirement.get("values"), path=f"{path}.values", problems=problems)
    if operator in ("In", "NotIn"):
        if not values:
            problems.append(Problem(f"{path}.values", f"must not be empty for operator {operator}"))
    elif operator in ("Exists", "DoesNotExist"):
        if values:
            problems.append(Problem(f"{path}.values", f"must be empty for operator {operator}"))
    else:
        problems.append(
            Problem(
                f"{path}.operator",
                f"must be In, NotIn, Exists or DoesNotExist, got {shown(operator)}",
            )
        )
    for index, value in enumerate(values):
        if not isinstance(value, str):
            problems.append(
                Problem(f"{path}.values[{index}]", f"must be a string, got {json_type(value)}")
            )
        elif problem := label_value_problem(value):
            problems.append(
                Problem(f"{path}.values[{index}]", f"invalid label value {shown(value)}: {problem}")
            )


def _ip_block(raw: object, *, path: str, problems: list[Problem]) -> None:
    block = _object(raw, path=path, problems=problems)
    _unknown(block, allowed=_IP_BLOCK_KEYS, path=path, problems=problems)
    cidr = block.get("cidr")
    if not cidr:
        problems.append(Problem(f"{path}.cidr", "required"))
        return
    network = parse_cidr(cidr)
    if network is None:
        problems.append(Problem(f"{path}.cidr", f"{CIDR_RULE}, got {shown(cidr)}"))
    except_path = f"{path}.except"
    for index, item in enumerate(_list(block.get("except"), path=except_path, problems=problems)):
        excepted = parse_cidr(item)
        where = f"{except_path}[{index}]"
        if excepted is None:
            problems.append(Problem(where, f"{CIDR_RULE}, got {shown(item)}"))
        elif network is not None and not _strict_subset(excepted, of=network):
            problems.append(
                Problem(
                    where, f"must be a strict subset of `cidr` {shown(cidr)}, got {shown(item)}"
                )
            )


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_cidr(raw: object) -> Network | None:
    """A CIDR as Kubernetes' legacy parser reads it (Go's net.ParseCIDR, IPv4 octets allowed
    leading zeros), host bits kept off; None when the API server would refuse it."""
    if not isinstance(raw, str) or raw.count("/") != 1 or "%" in raw:
        return None
    address, _, prefix = raw.partition("/")
    if not (prefix.isascii() and prefix.isdigit()):
        return None
    if _OCTETS.fullmatch(address):
        octets = [int(octet) for octet in address.split(".")]
        if any(octet > 255 for octet in octets):
            return None
        address = ".".join(str(octet) for octet in octets)
    elif ":" not in address:
        return None
    try:
        return ipaddress.ip_network(f"{address}/{int(prefix)}", strict=False)
    except ValueError:
        return None


def _strict_subset(excepted: Network, *, of: Network) -> bool:
    """Go's `cidr.Contains(except.IP)` and a longer prefix. Go compares an IPv4-mapped IPv6
    address or network as IPv4 (`::ffff:0.0.0.0/96` contains 10.0.0.0), prefix lengths as
    written."""
    outer: Network = of
    mapped_network = of.network_address.ipv4_mapped if of.version == 6 else None
    if isinstance(mapped_network, ipaddress.IPv4Address):
        outer = ipaddress.IPv4Network((mapped_network, of.prefixlen - 96))
    address: ipaddress.IPv4Address | ipaddress.IPv6Address = excepted.network_address
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return (
        address.version == outer.version and address in outer and excepted.prefixlen > of.prefixlen
    )
