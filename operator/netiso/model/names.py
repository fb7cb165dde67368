"""Kubernetes name syntax: DNS-1123 labels and subdomains, label keys and values, port names.

Model layer, pure. Each check returns None for a valid value or a message saying what is wrong,
mirroring k8s.io/apimachinery/pkg/util/validation so we reject what the API server would.
"""

from __future__ import annotations

import re
from typing import Final

DNS1123_LABEL_MAX: Final = 63
DNS1123_SUBDOMAIN_MAX: Final = 253
LABEL_VALUE_MAX: Final = 63
PORT_NAME_MAX: Final = 15

_DNS1123_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_DNS1123_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
# The name part of a qualified name and a label value share one syntax.
_QUALIFIED_NAME_PART = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")
_PORT_NAME = re.compile(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?")
_PORT_NAME_HAS_LETTER = re.compile(r"[a-z]")

DNS1123_LABEL_RULE: Final = (
    "must be a DNS-1123 label (at most 63 lowercase alphanumerics or '-', "
    "starting and ending with an alphanumeric)"
)
_NAME_PART_RULE: Final = "alphanumerics, '-', '_' or '.', starting and ending with an alphanumeric"


def dns1123_label_problem(value: str) -> str | None:
    """Namespace names and profile names: `[a-z0-9]([-a-z0-9]*[a-z0-9])?`, at most 63."""
    if len(value) > DNS1123_LABEL_MAX or not _DNS1123_LABEL.fullmatch(value):
        return DNS1123_LABEL_RULE
    return None


def dns1123_subdomain_problem(value: str) -> str | None:
    """Dot-separated DNS-1123 labels, at most 253 characters (label key prefixes)."""
    if len(value) > DNS1123_SUBDOMAIN_MAX or not _DNS1123_SUBDOMAIN.fullmatch(value):
        return (
            "must be a DNS-1123 subdomain (lowercase alphanumerics, '-' and '.', "
            "at most 253 characters)"
        )
    return None


def label_key_problem(key: str) -> str | None:
    """A qualified name: optional `prefix/` (DNS-1123 subdomain) then a name of at most 63."""
    prefix, slash, name = key.rpartition("/")
    if slash:
        if not prefix:
            return "prefix before '/' must not be empty"
        if problem := dns1123_subdomain_problem(prefix):
            return f"prefix {problem}"
    if not name:
        return "name part must not be empty"
    if len(name) > LABEL_VALUE_MAX:
        return f"name part must be at most {LABEL_VALUE_MAX} characters"
    if not _QUALIFIED_NAME_PART.fullmatch(name):
        return f"name part must consist of {_NAME_PART_RULE}"
    return None


def label_value_problem(value: str) -> str | None:
    """Empty, or at most 63 alphanumerics, '-', '_', '.', alphanumeric at both ends."""
    if len(value) > LABEL_VALUE_MAX:
        return f"must be at most {LABEL_VALUE_MAX} characters"
    if value and not _QUALIFIED_NAME_PART.fullmatch(value):
        return f"must be empty or consist of {_NAME_PART_RULE}"
    return None


def port_name_problem(value: str) -> str | None:
    """An IANA service name as a container port name: 1-15 of [a-z0-9-], with a letter."""
    if (
        len(value) > PORT_NAME_MAX
        or not _PORT_NAME.fullmatch(value)
        or "--" in value
        or not _PORT_NAME_HAS_LETTER.search(value)
    ):
        return (
            "must be a port name (at most 15 lowercase alphanumerics or '-', with at least "
            "one letter, no '--', starting and ending with an alphanumeric)"
        )
    return None
