"""Label selectors as NetworkPolicy peers use them: parsing without profile limits, and why not.

Reachability layer, pure. Matching reuses model.selection (matchLabels AND every
matchExpressions requirement; NotIn and DoesNotExist match objects without the key); this
module adds a parser for any valid API selector and the reasons a selector does not match.
"""

from __future__ import annotations

from collections.abc import Mapping

from netiso.model.fields import shown
from netiso.model.problems import Problem
from netiso.model.selection import LabelSelector, SelectorOperator, SelectorRequirement
from netiso.reachability.accessors import items, labels, mapping, string

_NEEDS_VALUES = frozenset({SelectorOperator.IN, SelectorOperator.NOT_IN})


def parse_selector(raw: object, *, path: str, problems: list[Problem]) -> LabelSelector:
    """A LabelSelector object; `{}` (or null) selects everything."""
    body = mapping(raw, path=path, problems=problems)
    match_labels = labels(body.get("matchLabels"), path=f"{path}.matchLabels", problems=problems)
    requirements = []
    expressions_path = f"{path}.matchExpressions"
    for index, item in enumerate(
        items(body.get("matchExpressions"), path=expressions_path, problems=problems)
    ):
        entry_path = f"{expressions_path}[{index}]"
        entry = mapping(item, path=entry_path, problems=problems)
        key = string(entry.get("key"), path=f"{entry_path}.key", problems=problems)
        if not key:
            problems.append(Problem(f"{entry_path}.key", "required"))
        raw_operator = entry.get("operator")
        try:
            operator = SelectorOperator(str(raw_operator))
        except ValueError:
            choices = ", ".join(member.value for member in SelectorOperator)
            problems.append(
                Problem(
                    f"{entry_path}.operator", f"must be one of {choices}, got {shown(raw_operator)}"
                )
            )
            continue
        values = []
        for position, value in enumerate(
            items(entry.get("values"), path=f"{entry_path}.values", problems=problems)
        ):
            values.append(string(value, path=f"{entry_path}.values[{position}]", problems=problems))
        if operator in _NEEDS_VALUES and not values:
            problems.append(Problem(f"{entry_path}.values", f"must not be empty for {operator}"))
        if operator not in _NEEDS_VALUES and values:
            problems.append(Problem(f"{entry_path}.values", f"must be empty for {operator}"))
        requirements.append(SelectorRequirement(key, operator, tuple(values)))
    return LabelSelector.of(match_labels, tuple(requirements))


def describe(selector: LabelSelector) -> str:
    """The selector in kubectl's `-l` syntax; `{}` for the empty selector."""
    if selector.selects_all:
        return "{}"
    parts = [f"{key}={value}" for key, value in selector.match_labels]
    for requirement in selector.match_expressions:
        match requirement.operator:
            case SelectorOperator.IN:
                parts.append(f"{requirement.key} in ({','.join(requirement.values)})")
            case SelectorOperator.NOT_IN:
                parts.append(f"{requirement.key} notin ({','.join(requirement.values)})")
            case SelectorOperator.EXISTS:
                parts.append(requirement.key)
            case SelectorOperator.DOES_NOT_EXIST:
                parts.append(f"!{requirement.key}")
    return ",".join(parts)


def mismatches(selector: LabelSelector, labels_: Mapping[str, str]) -> tuple[str, ...]:
    """Why `labels_` fails the selector, one reason per failed term; empty when it matches."""
    reasons = []
    for key, value in selector.match_labels:
        if key not in labels_:
            reasons.append(f"label {key} is missing (wants {key}={value})")
        elif labels_[key] != value:
            reasons.append(f"label {key}={labels_[key]} (wants {key}={value})")
    for requirement in selector.match_expressions:
        if requirement.matches(labels_):
            continue
        key = requirement.key
        match requirement.operator:
            case SelectorOperator.IN:
                have = f"{key}={labels_[key]}" if key in labels_ else f"label {key} is missing"
                reasons.append(f"{have} (wants {key} in ({','.join(requirement.values)}))")
            case SelectorOperator.NOT_IN:
                reasons.append(
                    f"{key}={labels_[key]} (wants {key} notin ({','.join(requirement.values)}))"
                )
            case SelectorOperator.EXISTS:
                reasons.append(f"label {key} is missing (wants it to exist)")
            case SelectorOperator.DOES_NOT_EXIST:
                reasons.append(f"label {key}={labels_[key]} is present (wants it absent)")
    return tuple(reasons)
