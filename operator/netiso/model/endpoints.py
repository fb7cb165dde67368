"""Parsing the parts of a spec that are addresses: port lists and the node-local DNS address.

Model layer, pure; used by model/parsing.py. Every problem names its field path.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Final

from netiso.model.fields import FieldTree, ObjectReader, items_of, json_type, shown
from netiso.model.names import port_name_problem
from netiso.model.problems import Problem
from netiso.model.profiles import (
    MAX_PORT,
    MAX_PORTS,
    MIN_PORT,
    MIN_PREFIX_V4,
    MIN_PREFIX_V6,
    PortRule,
    Protocol,
)

# Every field of a port entry parse_port() accepts (part of specs.SPEC_FIELDS).
PORT_FIELDS: Final[FieldTree] = {"protocol": {}, "port": {}, "endPort": {}}


def parse_ports(
    reader: ObjectReader, *, default: tuple[PortRule, ...], part: str, enabled: bool
) -> tuple[PortRule, ...]:
    """The `ports` of a part; when the part is enabled, the list must not be empty."""
    if not reader.has("ports"):
        if enabled and not default:
            reader.problem("ports", f"must not be empty when {part} is enabled")
        return default
    path = reader.path_of("ports")
    items = items_of(reader.get("ports"), path=path, problems=reader.problems, max_items=MAX_PORTS)
    if enabled and isinstance(reader.get("ports"), list) and not items:
        reader.problem("ports", f"must not be empty when {part} is enabled")
    rules: list[PortRule] = []
    for index, item in enumerate(items):
        if (
            rule := parse_port(item, path=f"{path}[{index}]", problems=reader.problems)
        ) is not None:
            rules.append(rule)
    return tuple(rules)


def parse_port(raw: object, *, path: str, problems: list[Problem]) -> PortRule | None:
    reader = ObjectReader(raw, path=path, fields=PORT_FIELDS, problems=problems)
    before = len(problems)
    protocol = reader.choice("protocol", Protocol, default=Protocol.TCP)
    port = reader.get("port")
    if port is None:
        reader.problem("port", "required")
    elif isinstance(port, bool) or not isinstance(port, int | str):
        reader.problem("port", f"must be a port number or name, got {json_type(port)}")
    elif isinstance(port, int) and not MIN_PORT <= port <= MAX_PORT:
        reader.problem("port", f"must be {MIN_PORT}..{MAX_PORT}, got {port}")
    elif isinstance(port, str) and (problem := port_name_problem(port)):
        reader.problem("port", f"{problem}, got {shown(port)}")
    end_port = reader.get("endPort")
    if end_port is None:
        pass
    elif isinstance(end_port, bool) or not isinstance(end_port, int):
        reader.problem("endPort", f"must be an integer, got {json_type(end_port)}")
    elif not MIN_PORT <= end_port <= MAX_PORT:
        reader.problem("endPort", f"must be {MIN_PORT}..{MAX_PORT}, got {end_port}")
    elif isinstance(port, str):
        reader.problem("endPort", f"needs a numeric port, got port {shown(port)}")
    elif isinstance(port, int) and not isinstance(port, bool) and end_port < port:
        reader.problem("endPort", f"must be >= port {port}, got {end_port}")
    if len(problems) > before or not isinstance(port, int | str):
        return None
    return PortRule(
        protocol=protocol, port=port, end_port=end_port if isinstance(end_port, int) else None
    )


# A CIDR must spell its prefix length, without leading zeros (as Go's netip.ParsePrefix reads
# it); ipaddress would also take "10.0.0.0/255.0.0.0" and "10.0.0.0/08".
_CIDR_SHAPE = re.compile(r"[0-9A-Fa-f:.]+/(0|[1-9][0-9]{0,2})")


def address_problem(address: str) -> str | None:
    """None if `address` is an IP or a CIDR no broader than /8 (IPv4) or /32 (IPv6).

    As the CRD's CEL isIP()/isCIDR() read it: no zone (`fe80::1%eth0`) and no IPv4-mapped
    IPv6 (`::ffff:1.2.3.4`), which Python's ipaddress would both take."""
    if "%" in address:
        return f"must not have a zone, got {shown(address)}"
    mapped = f"must be IPv4 itself, not IPv4-mapped IPv6, got {shown(address)}"
    if "/" not in address:
        try:
            parsed = ipaddress.ip_address(address)
        except ValueError:
            return f"must be an IP address or a CIDR, got {shown(address)}"
        return mapped if _is_mapped(parsed) else None
    if not _CIDR_SHAPE.fullmatch(address):
        return f"must be an IP address or a CIDR, got {shown(address)}"
    try:
        network = ipaddress.ip_network(address, strict=True)
    except ValueError as error:
        if "host bits set" in str(error):
            suggestion = ipaddress.ip_network(address, strict=False)
            return f"has host bits set, got {shown(address)} (did you mean {suggestion}?)"
        return f"must be an IP address or a CIDR, got {shown(address)}"
    if _is_mapped(network.network_address):
        return mapped
    minimum = MIN_PREFIX_V4 if network.version == 4 else MIN_PREFIX_V6
    if network.prefixlen < minimum:
        return f"must not be broader than /{minimum}, got {shown(address)}"
    return None


def _is_mapped(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    return isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None
