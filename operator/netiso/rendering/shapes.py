"""Shape checks for a rendered NetworkPolicy spec: valid networking.k8s.io/v1, in stored form.

Rendering layer, pure. Templates are user-replaceable, so what they produce is checked before
it reaches the API server: the fields and values the API accepts, plus netiso's own rules
(every rule names peers, ports and protocols; no empty lists; never an all-addresses block).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import Any, Final

from netiso.model.fields import json_type, shown
from netiso.model.names import port_name_problem
from netiso.model.problems import Problem
from netiso.model.selection import parse_label_selector

_SPEC_KEYS: Final = frozenset({"podSelector", "policyTypes", "ingress", "egress"})
_PEER_KEYS: Final = frozenset({"podSelector", "namespaceSelector", "ipBlock"})
_IP_BLOCK_KEYS: Final = frozenset({"cidr", "except"})
_PORT_KEYS: Final = frozenset({"protocol", "port", "endPort"})
_PROTOCOLS: Final = ("TCP", "UDP", "SCTP")
_POLICY_TYPES: Final = ("Ingress", "Egress")
# Direction -> (rules field, peers field, policyTypes entry).
_DIRECTIONS: Final = (("ingress", "from", "Ingress"), ("egress", "to", "Egress"))


def spec_problems(spec: Mapping[str, Any]) -> list[Problem]:
    """Everything wrong with a NetworkPolicy spec, with paths below `spec`; [] when valid."""
    problems: list[Problem] = []
    _unknown_keys(spec, allowed=_SPEC_KEYS, path="spec", problems=problems)
    if "podSelector" not in spec:
        problems.append(Problem("spec.podSelector", "required (use {} for all pods)"))
    else:
        _selector(spec["podSelector"], path="spec.podSelector", problems=problems)
    policy_types = _policy_types(spec.get("policyTypes"), problems=problems)
    for field, peers_field, policy_type in _DIRECTIONS:
        if field not in spec:
            continue
        path = f"spec.{field}"
        rules = _list(spec[field], path=path, problems=problems)
        if rules and policy_type not in policy_types:
            problems.append(Problem(path, f"has rules but policyTypes does not list {policy_type}"))
        for index, rule in enumerate(rules):
            _rule(rule, peers_field=peers_field, path=f"{path}[{index}]", problems=problems)
    return problems


def _unknown_keys(
    value: Mapping[str, Any], *, allowed: frozenset[str], path: str, problems: list[Problem]
) -> None:
    problems.extend(
        Problem(f"{path}.{key}", "unknown field") for key in value if key not in allowed
    )


def _list(value: object, *, path: str, problems: list[Problem]) -> list[Any]:
    if not isinstance(value, list):
        problems.append(Problem(path, f"must be an array, got {json_type(value)}"))
        return []
    if not value:
        # The API server drops empty lists, so the stored object would differ from ours.
        problems.append(Problem(path, "must not be an empty list (leave the field out)"))
    return value


def _mapping(value: object, *, path: str, problems: list[Problem]) -> Mapping[str, Any] | None:
    if not isinstance(value, Mapping):
        problems.append(Problem(path, f"must be an object, got {json_type(value)}"))
        return None
    return value


def _selector(value: object, *, path: str, problems: list[Problem]) -> None:
    selector = _mapping(value, path=path, problems=problems)
    if selector is None:
        return
    for key in ("matchLabels", "matchExpressions"):
        if key in selector and selector[key] in ({}, []):
            problems.append(Problem(f"{path}.{key}", "must not be empty (leave the field out)"))
    parse_label_selector(selector, path=path, problems=problems)


def _policy_types(value: object, *, problems: list[Problem]) -> list[str]:
    path = "spec.policyTypes"
    if value is None:
        # The API server would infer them; netiso always states them so nothing is implicit.
        problems.append(Problem(path, "required (list Ingress and/or Egress explicitly)"))
        return []
    types: list[str] = []
    for index, item in enumerate(_list(value, path=path, problems=problems)):
        if item not in _POLICY_TYPES:
            problems.append(
                Problem(f"{path}[{index}]", f"must be Ingress or Egress, got {shown(item)}")
            )
        elif item in types:
            problems.append(Problem(f"{path}[{index}]", f"duplicate {item}"))
        else:
            types.append(item)
    return types


def _rule(value: object, *, peers_field: str, path: str, problems: list[Problem]) -> None:
    rule = _mapping(value, path=path, problems=problems)
    if rule is None:
        return
    _unknown_keys(rule, allowed=frozenset({peers_field, "ports"}), path=path, problems=problems)
    if peers_field not in rule:
        problems.append(
            Problem(f"{path}.{peers_field}", "required (a rule without peers admits everyone)")
        )
    else:
        peers_path = f"{path}.{peers_field}"
        for index, peer in enumerate(_list(rule[peers_field], path=peers_path, problems=problems)):
            _peer(peer, path=f"{peers_path}[{index}]", problems=problems)
    if "ports" not in rule:
        problems.append(Problem(f"{path}.ports", "required (every rule names its ports)"))
    else:
        ports_path = f"{path}.ports"
        for index, port in enumerate(_list(rule["ports"], path=ports_path, problems=problems)):
            _port(port, path=f"{ports_path}[{index}]", problems=problems)


def _peer(value: object, *, path: str, problems: list[Problem]) -> None:
    peer = _mapping(value, path=path, problems=problems)
    if peer is None:
        return
    _unknown_keys(peer, allowed=_PEER_KEYS, path=path, problems=problems)
    if not _PEER_KEYS & set(peer):
        problems.append(Problem(path, "must have podSelector, namespaceSelector or ipBlock"))
    if "ipBlock" in peer and ("podSelector" in peer or "namespaceSelector" in peer):
        problems.append(Problem(path, "ipBlock cannot be combined with selectors"))
    for key in ("podSelector", "namespaceSelector"):
        if key in peer:
            _selector(peer[key], path=f"{path}.{key}", problems=problems)
    if "ipBlock" in peer:
        _ip_block(peer["ipBlock"], path=f"{path}.ipBlock", problems=problems)


def _ip_block(value: object, *, path: str, problems: list[Problem]) -> None:
    block = _mapping(value, path=path, problems=problems)
    if block is None:
        return
    _unknown_keys(block, allowed=_IP_BLOCK_KEYS, path=path, problems=problems)
    if "cidr" not in block:
        problems.append(Problem(f"{path}.cidr", "required"))
    else:
        _cidr(block["cidr"], path=f"{path}.cidr", problems=problems, allow_everything=False)
    if "except" in block:
        for index, item in enumerate(
            _list(block["except"], path=f"{path}.except", problems=problems)
        ):
            _cidr(item, path=f"{path}.except[{index}]", problems=problems, allow_everything=True)


def _cidr(value: object, *, path: str, problems: list[Problem], allow_everything: bool) -> None:
    if not isinstance(value, str) or "/" not in value:
        problems.append(Problem(path, f"must be a CIDR such as 10.0.0.0/8, got {shown(value)}"))
        return
    try:
        network = ipaddress.ip_network(value, strict=False)
    except ValueError:
        problems.append(Problem(path, f"must be a CIDR such as 10.0.0.0/8, got {shown(value)}"))
        return
    if network.prefixlen == 0 and not allow_everything:
        problems.append(Problem(path, f"must not open every address, got {shown(value)}"))


def _port(value: object, *, path: str, problems: list[Problem]) -> None:
    port = _mapping(value, path=path, problems=problems)
    if port is None:
        return
    _unknown_keys(port, allowed=_PORT_KEYS, path=path, problems=problems)
    protocol = port.get("protocol")
    if protocol is None:
        # The API server would default TCP; stating it keeps the stored spec equal to ours.
        problems.append(Problem(f"{path}.protocol", "required (TCP, UDP or SCTP)"))
    elif protocol not in _PROTOCOLS:
        problems.append(
            Problem(f"{path}.protocol", f"must be one of TCP, UDP, SCTP, got {shown(protocol)}")
        )
    number = port.get("port")
    if number is None:
        problems.append(Problem(f"{path}.port", "required (every rule names its ports)"))
    elif isinstance(number, bool) or not isinstance(number, int | str):
        problems.append(
            Problem(f"{path}.port", f"must be a port number or name, got {json_type(number)}")
        )
    elif isinstance(number, int) and not 1 <= number <= 65535:
        problems.append(Problem(f"{path}.port", f"must be 1..65535, got {number}"))
    elif isinstance(number, str) and (problem := port_name_problem(number)):
        problems.append(Problem(f"{path}.port", f"{problem}, got {shown(number)}"))
    if "endPort" in port:
        end = port["endPort"]
        if isinstance(end, bool) or not isinstance(end, int):
            problems.append(Problem(f"{path}.endPort", f"must be an integer, got {json_type(end)}"))
        elif not isinstance(number, int) or isinstance(number, bool):
            problems.append(Problem(f"{path}.endPort", "needs a numeric port"))
        elif not number <= end <= 65535:
            problems.append(
                Problem(f"{path}.endPort", f"must be {number}..65535 (>= port), got {end}")
            )
