"""Guardrail exceptions listed in the profile: which policy may break which rules, why, until when.

Model layer, pure. `spec.guardrails.exceptions[]` is the platform's own list (only who may
edit the profile grants one), the alternative to the `netiso.io/exception` annotation. Holds
the value, its parser (the same checks and words as the CRD schema) and apply_grants(), which
marks the violations an entry covers, and those only an expired entry would have covered.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

from netiso.model.fields import FieldTree, ObjectReader, items_of, json_type, shown
from netiso.model.names import DNS1123_LABEL_RULE, dns1123_label_problem, dns1123_subdomain_problem
from netiso.model.problems import Problem
from netiso.model.reasons import BLANK_REASON, is_visible
from netiso.model.rules import Rule

if TYPE_CHECKING:
    from netiso.model.guardrails import Violation

MAX_EXCEPTIONS: Final = 256
MAX_EXCEPTION_REASON: Final = 1024
# RFC 3339 with a zone, as the CRD's pattern writes it: 2026-12-31T18:00:00Z, or +02:00.
EXPIRES_PATTERN: Final = (
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}"
    r"(\.[0-9]{1,9})?(Z|[+-][0-9]{2}:[0-9]{2})$"
)
_EXPIRES: Final = re.compile(EXPIRES_PATTERN)
EXPIRES_RULE: Final = "must be an RFC 3339 time with a zone, such as 2026-12-31T18:00:00Z"
EXCEPTION_FIELDS: Final[FieldTree] = {
    "namespace": {},
    "policy": {},
    "rules": {},
    "reason": {},
    "expires": {},
}


@dataclass(frozen=True)
class Grant:
    """One listed exception: the policy `policy` of namespace `namespace` may break `rules`
    for `reason`, until `expires` (None: until the entry is removed)."""

    namespace: str
    policy: str
    rules: tuple[Rule, ...]
    reason: str
    expires: datetime | None = None

    def expired(self, now: datetime) -> bool:
        """Whether the entry no longer counts at `now` (from its expiry on, inclusive)."""
        return self.expires is not None and now >= self.expires

    def expiry(self) -> str:
        """The expiry as the CRD writes it (`2026-12-31T18:00:00Z`); "" when there is none."""
        return self.expires.isoformat().replace("+00:00", "Z") if self.expires else ""

    def names(self, violation: Violation) -> bool:
        """Whether the entry is about this violation (namespace, policy and rule)."""
        return (
            violation.namespace == self.namespace
            and violation.policy == self.policy
            and violation.rule in self.rules
        )

    def to_spec(self) -> dict[str, Any]:
        """The entry in CRD form."""
        body: dict[str, Any] = {
            "namespace": self.namespace,
            "policy": self.policy,
            "rules": [str(rule) for rule in self.rules],
            "reason": self.reason,
        }
        if self.expires is not None:
            body["expires"] = self.expiry()
        return body


def apply_grants(
    found: Iterable[Violation], grants: Sequence[Grant], *, now: datetime
) -> list[Violation]:
    """The violations with the listed exceptions applied, in order.

    A violation no annotation excepts takes the reason of the first unexpired entry naming
    it as its exception. One that only expired entries name stays a violation and carries
    `lapsed` (the entry's reason and expiry), so that what expired is said once.
    """
    if not grants:
        return list(found)
    marked: list[Violation] = []
    for violation in found:
        if violation.exception is None:
            naming = [grant for grant in grants if grant.names(violation)]
            live = [grant for grant in naming if not grant.expired(now)]
            if live:
                violation = replace(violation, exception=live[0].reason)
            elif naming:
                violation = replace(violation, lapsed=lapsed_words(naming[0]))
        marked.append(violation)
    return marked


def lapsed_words(grant: Grant) -> str:
    """`OPS-1: load test (expired 2026-12-07T19:30:00Z)`."""
    return f"{grant.reason} (expired {grant.expiry()})"


def granted_rules(
    grants: Sequence[Grant], *, namespace: str, policy: str, now: datetime
) -> frozenset[Rule]:
    """The rules unexpired entries let `policy` of `namespace` break."""
    return frozenset(
        rule
        for grant in grants
        if grant.namespace == namespace and grant.policy == policy and not grant.expired(now)
        for rule in grant.rules
    )


def parse_grants(reader: ObjectReader, key: str) -> tuple[Grant, ...]:
    """Read the list `key` of `reader` (spec.guardrails); each problem names its field."""
    path = reader.path_of(key)
    grants: list[Grant] = []
    for index, item in enumerate(
        items_of(reader.get(key), path=path, problems=reader.problems, max_items=MAX_EXCEPTIONS)
    ):
        entry = ObjectReader(
            item, path=f"{path}[{index}]", fields=EXCEPTION_FIELDS, problems=reader.problems
        )
        before = len(reader.problems)
        namespace = _name(entry, "namespace", problem_of=_namespace_problem)
        policy = _name(entry, "policy", problem_of=dns1123_subdomain_problem)
        rules = _rules(entry)
        reason = _reason(entry)
        expires = _expires(entry)
        if len(reader.problems) == before and item is not None:
            grants.append(Grant(namespace, policy, rules, reason, expires))
    return tuple(grants)


def _namespace_problem(value: str) -> str | None:
    return DNS1123_LABEL_RULE if dns1123_label_problem(value) else None


def _name(entry: ObjectReader, key: str, *, problem_of: Any) -> str:
    value = entry.get(key)
    if value is None:
        entry.problem(key, "required")
        return ""
    if not isinstance(value, str):
        entry.problem(key, f"must be a string, got {json_type(value)}")
        return ""
    if problem := problem_of(value):
        entry.problem(key, f"{problem}, got {shown(value)}")
    return value


def _rules(entry: ObjectReader) -> tuple[Rule, ...]:
    raw = entry.get("rules")
    path = entry.path_of("rules")
    if raw is None:
        entry.problem("rules", "required")
        return ()
    items = items_of(raw, path=path, problems=entry.problems, max_items=len(Rule))
    if isinstance(raw, list) and not items:
        entry.problem("rules", "must name at least one guardrail rule")
    names = [rule.value for rule in Rule]
    rules: list[Rule] = []
    for index, item in enumerate(items):
        if not isinstance(item, str) or item not in names:
            entry.problems.append(
                Problem(f"{path}[{index}]", f"must be one of {', '.join(names)}, got {shown(item)}")
            )
        elif Rule(item) in rules:
            entry.problems.append(Problem(f"{path}[{index}]", f"duplicate {shown(item)}"))
        else:
            rules.append(Rule(item))
    return tuple(rules)


def _reason(entry: ObjectReader) -> str:
    if entry.get("reason") is None:
        entry.problem("reason", "required")
        return ""
    value = entry.string("reason", default="", max_length=MAX_EXCEPTION_REASON)
    if isinstance(entry.get("reason"), str) and not is_visible(value):
        entry.problem("reason", BLANK_REASON)
    return value


def _expires(entry: ObjectReader) -> datetime | None:
    value = entry.get("expires")
    if value is None:
        return None
    if not isinstance(value, str):
        entry.problem("expires", f"must be a string, got {json_type(value)}")
        return None
    parsed = None
    if _EXPIRES.fullmatch(value):
        try:
            # Python takes at most 6 fractional digits; the instant is the same.
            text = re.sub(r"(\.[0-9]{6})[0-9]+", r"\1", value).replace("Z", "+00:00")
            parsed = datetime.fromisoformat(text).astimezone(UTC)
        except ValueError:
            parsed = None
    if parsed is None:
        entry.problem("expires", f"{EXPIRES_RULE}, got {shown(value)}")
    return parsed
