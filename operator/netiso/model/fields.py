"""Reading untrusted JSON-shaped objects field by field, collecting Problems with their paths.

Model layer, pure. The profile and selector parsers read every object through ObjectReader, whose
FieldTree both rejects unknown fields and documents which fields exist (the CRD test walks it).
"""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping
from typing import Any, Final, TypeVar

from netiso.model.problems import Problem

# Field names of an object, each mapped to the tree of its own fields: {} for a scalar, a list
# of scalars or a free-form map; for a list of objects, the fields of one item.
FieldTree = Mapping[str, "FieldTree"]

E = TypeVar("E", bound=enum.StrEnum)


def json_type(value: object) -> str:
    """The JSON name of a parsed YAML/JSON value's type, for "must be X, got Y" messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "array"
    if isinstance(value, Mapping):
        return "object"
    return type(value).__name__


# Longer values are cut in messages: a profile may be hostile, and its errors reach terminals,
# CI logs and status conditions.
MAX_SHOWN: Final = 80


def shown(value: object) -> str:
    """A value as the user would recognise it in a message: JSON where possible, clipped."""
    try:
        text = json.dumps(value)
    except (TypeError, ValueError):
        text = repr(value)
    if len(text) <= MAX_SHOWN:
        return text
    return f"{text[:MAX_SHOWN]}... ({len(text)} characters)"


def join(path: str, key: str) -> str:
    """`spec` + `dns` -> `spec.dns`; "" + `spec` -> `spec`."""
    return f"{path}.{key}" if path else key


def items_of(raw: object, *, path: str, problems: list[Problem], max_items: int) -> list[object]:
    """The items of a list field; None (absent) is an empty list, anything else a Problem."""
    if raw is None:
        return []
    if not isinstance(raw, list | tuple):
        problems.append(Problem(path, f"must be an array, got {json_type(raw)}"))
        return []
    if len(raw) > max_items:
        problems.append(Problem(path, f"must have at most {max_items} items, got {len(raw)}"))
    return list(raw)


class ObjectReader:
    """Reads one JSON object whose allowed fields are `fields`; problems go to `problems`.

    A None (null or absent) object reads as empty, like the API server prunes nulls before
    defaulting. A value that is not an object, and every unknown field, is reported once here;
    the typed getters then report wrong types and return the default so parsing can go on.
    """

    def __init__(
        self, raw: object, *, path: str, fields: FieldTree, problems: list[Problem]
    ) -> None:
        self.path = path
        self.fields = fields
        self.problems = problems
        self.values: Mapping[Any, object] = {}
        if raw is None:
            return
        if not isinstance(raw, Mapping):
            problems.append(Problem(path, f"must be an object, got {json_type(raw)}"))
            return
        self.values = raw
        for key in raw:
            if key not in fields:
                problems.append(Problem(join(path, str(key)), "unknown field"))

    def path_of(self, key: str) -> str:
        """The full path of one of this object's fields."""
        return join(self.path, key)

    def problem(self, key: str, message: str) -> None:
        """Report a problem on one of this object's fields."""
        self.problems.append(Problem(self.path_of(key), message))

    def get(self, key: str) -> object:
        """The raw value of a known field, None when absent or null."""
        if key not in self.fields:
            # A programming error: the tree must list every field the parser reads.
            raise KeyError(f"{key} is missing from the field tree of {self.path or 'the root'}")
        return self.values.get(key)

    def child(self, key: str, fields: FieldTree) -> ObjectReader:
        """A reader for a nested object field, sharing this reader's problem list."""
        return ObjectReader(
            self.get(key), path=self.path_of(key), fields=fields, problems=self.problems
        )

    def has(self, key: str) -> bool:
        """Whether the field is present and not null."""
        return self.get(key) is not None

    def boolean(self, key: str, *, default: bool) -> bool:
        """A boolean field; YAML strings such as "true" are rejected, not coerced."""
        value = self.get(key)
        if value is None:
            return default
        if not isinstance(value, bool):
            self.problem(key, f"must be a boolean, got {json_type(value)}")
            return default
        return value

    def integer(self, key: str, *, default: int, low: int, high: int) -> int:
        """An integer field from `low` to `high`; booleans are rejected, not counted as 0/1,
        and an out-of-range value keeps the default."""
        value = self.get(key)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int):
            self.problem(key, f"must be an integer, got {json_type(value)}")
            return default
        if not low <= value <= high:
            self.problem(key, f"must be {low}..{high}, got {value}")
            return default
        return value

    def string(self, key: str, *, default: str, max_length: int) -> str:
        """A string field of at most `max_length` characters."""
        value = self.get(key)
        if value is None:
            return default
        if not isinstance(value, str):
            self.problem(key, f"must be a string, got {json_type(value)}")
            return default
        if len(value) > max_length:
            self.problem(key, f"must be at most {max_length} characters, got {len(value)}")
        return value

    def choice(self, key: str, choices: type[E], *, default: E) -> E:
        """A string field restricted to the values of a StrEnum."""
        value = self.get(key)
        if value is None:
            return default
        allowed = [member.value for member in choices]
        if not isinstance(value, str) or value not in allowed:
            self.problem(key, f"must be one of {', '.join(allowed)}, got {shown(value)}")
            return default
        return choices(value)
