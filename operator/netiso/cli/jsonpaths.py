"""kubectl's JSONPath templates for `-o jsonpath=TEMPLATE`: `{.items[*].namespace}`, ranges,
filters and literals, evaluated over the plain data a command would print as JSON.

Top layer beside printing, pure: a template and data in, text out. Covers what kubectl's
documentation shows (https://kubernetes.io/docs/reference/kubectl/jsonpath/): `.field`,
`['field']`, `..field`, `*`, `[n]`, `[a:b]`, `[*]`, `[?(@.f == "x")]`, `{range}...{end}`
and `{"literal"}`. A missing key prints nothing, as kubectl's default
`--allow-missing-template-keys` does; an unreadable template is a JsonPathError.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Final


class JsonPathError(ValueError):
    """A template that cannot be read: the message says where."""


@dataclass(frozen=True)
class _Step:
    """One step of a path: a key, `*`, an index, a slice, a filter, or `..key`."""

    kind: str  # "key", "all", "index", "slice", "filter", "descend"
    key: str = ""
    start: int | None = None
    stop: int | None = None
    test: tuple[tuple[_Step, ...], str, Any] | None = None


@dataclass(frozen=True)
class _Node:
    """A parsed template piece: text, a literal, a path, or a range with its body."""

    kind: str  # "text", "path", "range"
    text: str = ""
    path: tuple[_Step, ...] = ()
    body: tuple[_Node, ...] = ()


_KEY: Final = re.compile(r"[A-Za-z0-9_\-/]+")
_FILTER: Final = re.compile(
    r"^\s*@(?P<path>[^=!<>]*?)\s*(?:(?P<op>==|!=|<=|>=|<|>)\s*(?P<value>.+?))?\s*$"
)


def render(template: str, data: Any) -> str:
    """The template applied to `data`; several values from one expression are joined by
    spaces, as kubectl joins them."""
    if "{" not in template:
        # kubectl accepts `-o jsonpath=.items[*].name` too, as if braced.
        template = "{" + template + "}"
    nodes, _ = _parse_nodes(_tokens(template), inside_range=False)
    return "".join(_run(nodes, data, root=data))


def _tokens(template: str) -> list[tuple[str, str]]:
    """("text", ...) and ("expr", ...) pieces; braces inside quoted literals do not count."""
    pieces: list[tuple[str, str]] = []
    at = 0
    while at < len(template):
        start = template.find("{", at)
        if start < 0:
            pieces.append(("text", template[at:]))
            break
        if start > at:
            pieces.append(("text", template[at:start]))
        end, quote = start + 1, ""
        while end < len(template) and (quote or template[end] != "}"):
            if template[end] in "\"'" and (not quote or quote == template[end]):
                quote = "" if quote else template[end]
            elif template[end] == "\\" and quote:
                end += 1
            end += 1
        if end >= len(template):
            raise JsonPathError(f"unclosed {{ at character {start + 1} of {template!r}")
        pieces.append(("expr", template[start + 1 : end].strip()))
        at = end + 1
    return pieces


def _parse_nodes(
    tokens: list[tuple[str, str]], *, inside_range: bool
) -> tuple[tuple[_Node, ...], list[tuple[str, str]]]:
    """The nodes up to the `{end}` closing a range (or to the end), and the tokens after."""
    nodes: list[_Node] = []
    while tokens:
        (kind, text), tokens = tokens[0], tokens[1:]
        if kind == "text":
            nodes.append(_Node("text", text=text))
        elif text == "end":
            if not inside_range:
                raise JsonPathError("{end} without a {range}")
            return tuple(nodes), tokens
        elif text == "range" or text.startswith("range "):
            path = _parse_path(text[5:].strip())
            body, tokens = _parse_nodes(tokens, inside_range=True)
            nodes.append(_Node("range", path=path, body=body))
        elif text[:1] in "\"'":
            nodes.append(_Node("text", text=_literal(text)))
        else:
            nodes.append(_Node("path", path=_parse_path(text)))
    if inside_range:
        raise JsonPathError("{range} without an {end}")
    return tuple(nodes), []


def _literal(text: str) -> str:
    if len(text) < 2 or text[-1] != text[0]:
        raise JsonPathError(f"unterminated string {text}")
    body = text[1:-1]
    if text[0] == "'":
        body = body.replace('"', '\\"')
    try:
        value: str = json.loads(f'"{body}"', strict=False)
    except json.JSONDecodeError as error:
        raise JsonPathError(f"cannot read the string {text}: {error.msg}") from None
    return value


def _parse_path(text: str) -> tuple[_Step, ...]:
    if text.startswith(("$", "@")):
        text = text[1:]
    steps: list[_Step] = []
    at = 0
    while at < len(text):
        if text.startswith("..", at):
            match = _KEY.match(text, at + 2)
            if match is None:
                raise JsonPathError(f"expected a name after '..' in {text!r}")
            steps.append(_Step("descend", key=match[0]))
            at = match.end()
        elif text[at] == ".":
            if text.startswith(".*", at):
                steps.append(_Step("all"))
                at += 2
                continue
            match = _KEY.match(text, at + 1)
            if match is None:
                if at + 1 == len(text):  # `{.}`: the current value
                    at += 1
                    continue
                raise JsonPathError(f"expected a name at character {at + 2} of {text!r}")
            steps.append(_Step("key", key=match[0]))
            at = match.end()
        elif text[at] == "[":
            end = _closing_bracket(text, at)
            steps.append(_bracket(text[at + 1 : end].strip(), whole=text))
            at = end + 1
        else:
            match = _KEY.match(text, at)
            if match is None or at != 0:
                raise JsonPathError(f"unexpected {text[at]!r} at character {at + 1} of {text!r}")
            steps.append(_Step("key", key=match[0]))
            at = match.end()
    return tuple(steps)


def _closing_bracket(text: str, start: int) -> int:
    depth, quote = 0, ""
    for at in range(start, len(text)):
        character = text[at]
        if quote:
            quote = "" if character == quote else quote
        elif character in "\"'":
            quote = character
        elif character in "[(":
            depth += 1
        elif character in "])":
            depth -= 1
            if depth == 0:
                return at
    raise JsonPathError(f"unclosed [ in {text!r}")


def _bracket(inside: str, *, whole: str) -> _Step:
    if inside == "*":
        return _Step("all")
    if inside[:1] in "\"'":
        return _Step("key", key=_literal(inside))
    if inside.startswith("?(") and inside.endswith(")"):
        match = _FILTER.match(inside[2:-1])
        if match is None:
            raise JsonPathError(f"cannot read the filter [{inside}] in {whole!r}")
        value: Any = None
        if match["op"]:
            raw = match["value"].strip()
            value = _literal(raw) if raw[:1] in "\"'" else _number(raw, whole=whole)
        return _Step("filter", test=(_parse_path(match["path"]), match["op"] or "", value))
    if ":" in inside:
        first, _, second = inside.partition(":")
        return _Step(
            "slice",
            start=_number(first, whole=whole) if first.strip() else None,
            stop=_number(second.partition(":")[0], whole=whole) if second.strip() else None,
        )
    return _Step("index", start=_number(inside, whole=whole))


def _number(text: str, *, whole: str) -> Any:
    text = text.strip()
    if text in ("true", "false"):
        return text == "true"
    try:
        return int(text)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            raise JsonPathError(f"expected a number, got {text!r} in {whole!r}") from None


def _run(nodes: Sequence[_Node], current: Any, *, root: Any) -> Iterator[str]:
    for node in nodes:
        if node.kind == "text":
            yield node.text
        elif node.kind == "path":
            yield " ".join(_shown(value) for value in _select(node.path, current))
        else:
            for item in _select(node.path, current):
                yield from _run(node.body, item, root=root)


def _select(path: Sequence[_Step], current: Any) -> list[Any]:
    values = [current]
    for step in path:
        values = [found for value in values for found in _apply(step, value)]
    return values


def _apply(step: _Step, value: Any) -> Iterator[Any]:
    if step.kind == "key":
        if isinstance(value, dict) and step.key in value:
            yield value[step.key]
    elif step.kind == "all":
        if isinstance(value, dict):
            yield from value.values()
        elif isinstance(value, list):
            yield from value
    elif step.kind == "index":
        if isinstance(value, list) and -len(value) <= step.start < len(value):  # type: ignore[operator]
            yield value[step.start]  # type: ignore[index]
    elif step.kind == "slice":
        if isinstance(value, list):
            yield from value[step.start : step.stop]
    elif step.kind == "filter":
        assert step.test is not None
        items = (
            value
            if isinstance(value, list)
            else list(value.values())
            if isinstance(value, dict)
            else []
        )
        for item in items:
            if _passes(step.test, item):
                yield item
    else:  # descend: every value under the key, at any depth
        yield from _descend(step.key, value)


def _descend(key: str, value: Any) -> Iterator[Any]:
    if isinstance(value, dict):
        if key in value:
            yield value[key]
        for child in value.values():
            yield from _descend(key, child)
    elif isinstance(value, list):
        for child in value:
            yield from _descend(key, child)


def _passes(test: tuple[tuple[_Step, ...], str, Any], item: Any) -> bool:
    path, operator, expected = test
    found = _select(path, item)
    if not operator:
        return bool(found) and found[0] not in (None, False)
    if not found:
        return False
    actual = found[0]
    try:
        if operator == "==":
            return bool(actual == expected)
        if operator == "!=":
            return bool(actual != expected)
        if operator == "<":
            return bool(actual < expected)
        if operator == ">":
            return bool(actual > expected)
        if operator == "<=":
            return bool(actual <= expected)
        return bool(actual >= expected)
    except TypeError:
        return False


def _shown(value: Any) -> str:
    """Strings as themselves, other scalars as JSON spells them, lists and maps as JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(value)
