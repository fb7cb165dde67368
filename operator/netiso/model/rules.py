"""The names of the guardrail rules, on their own so that every part of a profile can name them.

Model layer, pure. guardrails.py holds what each rule means and the evaluator; grants.py (the
exceptions a profile lists) names rules too, and limits.py holds both.
"""

from __future__ import annotations

import enum


class Rule(enum.StrEnum):
    """The guardrail rules, by the id that messages, reports and CEL share."""

    BROAD_CIDR = "broad-cidr"
    ALL_NAMESPACES = "all-namespaces"
    NO_PEERS = "no-peers"
    NO_PORTS = "no-ports"
    NAMED_PORT = "named-port"
    REQUIRED_ANNOTATION = "required-annotation"
