"""Label selectors: parsing and validating a Kubernetes LabelSelector, matching labels with it.

Model layer, pure. A LabelSelector is stored canonically (matchLabels sorted by key) and turned
back into the exact dict the API server would store with `to_kubernetes()`.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from netiso.model.fields import FieldTree, ObjectReader, items_of, json_type, shown
from netiso.model.names import label_key_problem, label_value_problem
from netiso.model.problems import Problem

MAX_MATCH_LABELS: Final = 32
MAX_MATCH_EXPRESSIONS: Final = 16
MAX_EXPRESSION_VALUES: Final = 64

REQUIREMENT_FIELDS: Final[FieldTree] = {"key": {}, "operator": {}, "values": {}}
SELECTOR_FIELDS: Final[FieldTree] = {"matchLabels": {}, "matchExpressions": REQUIREMENT_FIELDS}


class SelectorOperator(enum.StrEnum):
    """How a matchExpressions requirement compares a label with its values."""

    IN = "In"
    NOT_IN = "NotIn"
    EXISTS = "Exists"
    DOES_NOT_EXIST = "DoesNotExist"


# Operators that compare with values need at least one; the others must have none.
_NEEDS_VALUES: Final = frozenset({SelectorOperator.IN, SelectorOperator.NOT_IN})


@dataclass(frozen=True)
class SelectorRequirement:
    """One matchExpressions entry; `values` is empty for Exists and DoesNotExist."""

    key: str
    operator: SelectorOperator
    values: tuple[str, ...] = ()

    def to_kubernetes(self) -> dict[str, Any]:
        """The entry as the API server stores it (an empty `values` is omitted)."""
        body: dict[str, Any] = {"key": self.key, "operator": str(self.operator)}
        if self.values:
            body["values"] = list(self.values)
        return body

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Kubernetes semantics: NotIn and DoesNotExist match when the label is absent."""
        present = self.key in labels
        match self.operator:
            case SelectorOperator.IN:
                return present and labels[self.key] in self.values
            case SelectorOperator.NOT_IN:
                return not present or labels[self.key] not in self.values
            case SelectorOperator.EXISTS:
                return present
            case SelectorOperator.DOES_NOT_EXIST:
                return not present


@dataclass(frozen=True)
class LabelSelector:
    """A Kubernetes LabelSelector; the empty selector selects everything."""

    match_labels: tuple[tuple[str, str], ...] = ()
    match_expressions: tuple[SelectorRequirement, ...] = ()

    @classmethod
    def of(
        cls,
        match_labels: Mapping[str, str] | None = None,
        match_expressions: tuple[SelectorRequirement, ...] = (),
    ) -> LabelSelector:
        """Build a selector from a plain mapping (already valid); sorts matchLabels."""
        return cls(tuple(sorted((match_labels or {}).items())), match_expressions)

    @property
    def selects_all(self) -> bool:
        """True for `{}`: every pod (or namespace) matches."""
        return not self.match_labels and not self.match_expressions

    def to_kubernetes(self) -> dict[str, Any]:
        """The selector as the API server stores it: empty parts omitted, `{}` for all."""
        body: dict[str, Any] = {}
        if self.match_labels:
            body["matchLabels"] = dict(self.match_labels)
        if self.match_expressions:
            body["matchExpressions"] = [req.to_kubernetes() for req in self.match_expressions]
        return body

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Whether a set of labels satisfies every matchLabels pair and every requirement."""
        return all(labels.get(key) == value for key, value in self.match_labels) and all(
            req.matches(labels) for req in self.match_expressions
        )


def parse_label_selector(raw: object, *, path: str, problems: list[Problem]) -> LabelSelector:
    """Validate a LabelSelector object; None reads as `{}`. Problems are appended, not raised."""
    reader = ObjectReader(raw, path=path, fields=SELECTOR_FIELDS, problems=problems)
    return LabelSelector(
        match_labels=_parse_match_labels(
            reader.get("matchLabels"), path=reader.path_of("matchLabels"), problems=problems
        ),
        match_expressions=tuple(
            _parse_requirement(
                item, path=f"{reader.path_of('matchExpressions')}[{index}]", problems=problems
            )
            for index, item in enumerate(
                items_of(
                    reader.get("matchExpressions"),
                    path=reader.path_of("matchExpressions"),
                    problems=problems,
                    max_items=MAX_MATCH_EXPRESSIONS,
                )
            )
        ),
    )


def _parse_match_labels(
    raw: object, *, path: str, problems: list[Problem]
) -> tuple[tuple[str, str], ...]:
    if raw is None:
        return ()
    if not isinstance(raw, Mapping):
        problems.append(Problem(path, f"must be an object, got {json_type(raw)}"))
        return ()
    if len(raw) > MAX_MATCH_LABELS:
        problems.append(
            Problem(path, f"must have at most {MAX_MATCH_LABELS} labels, got {len(raw)}")
        )
    pairs: list[tuple[str, str]] = []
    for key, value in raw.items():
        entry = f"{path}[{shown(key)}]"
        if not isinstance(key, str):
            problems.append(Problem(entry, f"label key must be a string, got {json_type(key)}"))
            continue
        if problem := label_key_problem(key):
            problems.append(Problem(entry, f"invalid label key: {problem}"))
            continue
        if not isinstance(value, str):
            problems.append(Problem(entry, f"must be a string, got {json_type(value)}"))
            continue
        if problem := label_value_problem(value):
            problems.append(Problem(entry, f"invalid label value {shown(value)}: {problem}"))
            continue
        pairs.append((key, value))
    return tuple(sorted(pairs))


def _parse_requirement(raw: object, *, path: str, problems: list[Problem]) -> SelectorRequirement:
    reader = ObjectReader(raw, path=path, fields=REQUIREMENT_FIELDS, problems=problems)
    key = reader.get("key")
    if key is None:
        reader.problem("key", "required")
    elif not isinstance(key, str):
        reader.problem("key", f"must be a string, got {json_type(key)}")
    elif problem := label_key_problem(key):
        reader.problem("key", f"invalid label key {shown(key)}: {problem}")
    operator = reader.choice("operator", SelectorOperator, default=SelectorOperator.EXISTS)
    if not reader.has("operator"):
        reader.problem("operator", "required")
    values: list[str] = []
    values_path = reader.path_of("values")
    for index, value in enumerate(
        items_of(
            reader.get("values"),
            path=values_path,
            problems=problems,
            max_items=MAX_EXPRESSION_VALUES,
        )
    ):
        if not isinstance(value, str):
            problems.append(
                Problem(f"{values_path}[{index}]", f"must be a string, got {json_type(value)}")
            )
        elif problem := label_value_problem(value):
            problems.append(
                Problem(f"{values_path}[{index}]", f"invalid label value {shown(value)}: {problem}")
            )
        else:
            values.append(value)
    if reader.has("operator"):
        if operator in _NEEDS_VALUES and not reader.get("values"):
            reader.problem("values", f"must not be empty for operator {operator}")
        elif operator not in _NEEDS_VALUES and reader.get("values"):
            reader.problem("values", f"must be empty for operator {operator}")
    return SelectorRequirement(
        key=key if isinstance(key, str) else "", operator=operator, values=tuple(values)
    )
