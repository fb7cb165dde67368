"""Profile guardrails' settings: the `spec.guardrails` values and their parser.

Model layer, pure. What a profile allows (action, opt-out, CIDR limits, required annotations);
guardrails.py holds the rule table and violations(), the evaluator that applies these values.
"""

from __future__ import annotations

import enum
import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from netiso.model.fields import FieldTree, ObjectReader, items_of, json_type, shown
from netiso.model.grants import EXCEPTION_FIELDS, Grant, parse_grants
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
    # Exceptions the platform lists in the profile (grants.py), besides the annotation.
    exceptions: tuple[Grant, ...] = ()

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
        if self.exceptions:
            body["exceptions"] = [grant.to_spec() for grant in self.exceptions]
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
    "exceptions": EXCEPTION_FIELDS,
}


def parse_guardrails(reader: ObjectReader) -> Guardrails:
    """Read `spec.guardrails` through `reader` (built on GUARDRAILS_FIELDS); problems go to
    the reader's list and the field keeps its default."""
    blocks = reader.child("ipBlocks", IP_BLOCKS_FIELDS)
    return Guardrails(
        action=reader.choice("action", Action, default=Action.WARN),
        min_prefix_ipv4=blocks.integer(
            "minPrefixLengthIPv4", default=DEFAULT_MIN_PREFIX_IPV4, low=0, high=MAX_PREFIX_IPV4
        ),
        min_prefix_ipv6=blocks.integer(
            "minPrefixLengthIPv6", default=DEFAULT_MIN_PREFIX_IPV6, low=0, high=MAX_PREFIX_IPV6
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
        exceptions=parse_grants(reader, "exceptions"),
    )


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
CIDR_SHAPE: Final = re.compile(r"[0-9A-Fa-f:.]+/[0-9]{1,3}")


def _cidr_problem(value: str) -> str | None:
    if not CIDR_SHAPE.fullmatch(value):
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
