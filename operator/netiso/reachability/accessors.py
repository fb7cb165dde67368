"""Reading Kubernetes objects leniently: typed getters that report a field path on bad input.

Reachability layer, pure. Unlike the profile parser, unknown fields are ignored (a Pod or a
Deployment carries far more than reachability needs); only the fields read here are checked.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from netiso.model.fields import json_type, shown
from netiso.model.problems import Problem


class ObjectError(ValueError):
    """An object cannot be used; `problems` name each bad field (paths from the object root)."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = tuple(problems)
        super().__init__("; ".join(str(problem) for problem in problems))


def mapping(raw: object, *, path: str, problems: list[Problem]) -> Mapping[str, Any]:
    """An object field; absent or null reads as empty."""
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        problems.append(Problem(path, f"must be an object, got {json_type(raw)}"))
        return {}
    return raw


def items(raw: object, *, path: str, problems: list[Problem]) -> list[Any]:
    """A list field; absent or null reads as empty."""
    if raw is None:
        return []
    if not isinstance(raw, list | tuple):
        problems.append(Problem(path, f"must be an array, got {json_type(raw)}"))
        return []
    return list(raw)


def string(raw: object, *, path: str, problems: list[Problem], default: str = "") -> str:
    """A string field; absent or null reads as `default`."""
    if raw is None:
        return default
    if not isinstance(raw, str):
        problems.append(Problem(path, f"must be a string, got {json_type(raw)}"))
        return default
    return raw


def labels(raw: object, *, path: str, problems: list[Problem]) -> dict[str, str]:
    """A map of label keys to string values."""
    result: dict[str, str] = {}
    for key, value in mapping(raw, path=path, problems=problems).items():
        if not isinstance(key, str) or not isinstance(value, str):
            problems.append(
                Problem(
                    f"{path}[{shown(key)}]", f"must map a string to a string, got {shown(value)}"
                )
            )
            continue
        result[key] = value
    return result


def identity(
    metadata: Mapping[str, Any], *, default_namespace: str, problems: list[Problem]
) -> tuple[str, str]:
    """(namespace, name) of an object; the name is required, the namespace defaults."""
    name = string(metadata.get("name"), path="metadata.name", problems=problems)
    if not name:
        problems.append(Problem("metadata.name", "required"))
    namespace = (
        string(metadata.get("namespace"), path="metadata.namespace", problems=problems)
        or default_namespace
    )
    return namespace, name
