"""Loading untrusted YAML or JSON text into plain values, with limits checked before building.

Model layer, pure: text in, values out. Every user-supplied manifest (CLI files, stdin) goes
through load_documents(), never yaml.safe_load: an alias bomb, deep nesting, an oversized file
or a duplicate key is one DocumentError naming the source and line, never a MemoryError,
RecursionError or a message that repeats the offending value.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Final

import yaml

from netiso.model.fields import MAX_SHOWN
from netiso.model.scalars import NotJson, json_key, plain_scalar

# libyaml is about ten times faster than the pure-Python parser; PyYAML without its C extension
# (some platforms' wheels) still works, only slower.
_BaseLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True)
class DocumentLimits:
    """Bounds on untrusted input, checked while scanning, before any value is built.

    `max_nodes` counts nodes as if every alias were expanded (a 1 KB alias bomb expands to
    billions), summed over all documents of the text. `max_depth` counts nested collections.
    """

    max_bytes: int = 1024 * 1024
    max_document_bytes: int = 512 * 1024
    max_documents: int = 500
    max_depth: int = 64
    max_nodes: int = 50_000


DEFAULT_LIMITS: Final = DocumentLimits()


class DocumentError(ValueError):
    """The text is not acceptable YAML/JSON; `line` and `column` are 1-based, 0 when unknown."""

    def __init__(
        self, *, source: str, message: str, line: int = 0, column: int = 0, note: str = ""
    ) -> None:
        self.source = source
        self.message = message
        self.line = line
        self.column = column
        where = f" at line {line}, column {column}" if line else ""
        after = f" ({note})" if note else ""
        # What is wrong and where, without the source: for callers that print the source once.
        self.detail = f"{message}{where}{after}"
        super().__init__(f"{source}: {self.detail}")


def clipped(text: str, limit: int = MAX_SHOWN) -> str:
    """`text` quoted for a message, cut to `limit` characters with the full length noted.

    Unlike fields.shown(), the cut falls inside the text, so the quotes stay balanced.
    """
    if len(text) <= limit:
        return json.dumps(text)
    return f"{json.dumps(text[:limit])}... ({len(text)} characters)"


def load_documents(text: str, *, source: str, limits: DocumentLimits = DEFAULT_LIMITS) -> list[Any]:
    """The documents of `text` as plain values (dict, list, str, int, float, bool, None).

    Empty documents load as None, in place. Timestamps stay strings, as the API server reads
    them. Raises DocumentError for invalid YAML, a duplicate mapping key, a recursive alias or
    any exceeded limit; nothing is built until the whole text has passed the limits.
    """
    _check_size(text, source=source, limits=limits)
    _scan(text, source=source, limits=limits)
    loader = _StrictLoader(text)
    loader.source = source
    try:
        documents = []
        while loader.check_data():
            documents.append(loader.get_data())
        return documents
    except yaml.YAMLError as error:
        raise _document_error(error, source=source) from None
    finally:
        loader.dispose()


def _check_size(text: str, *, source: str, limits: DocumentLimits) -> None:
    # A character is at least one UTF-8 byte and at most four: encode only when it matters.
    size = len(text)
    if size * 4 > limits.max_bytes:
        size = len(text.encode("utf-8", errors="surrogatepass"))
    if size > limits.max_bytes:
        raise DocumentError(
            source=source, message=f"is {size} bytes, more than the limit of {limits.max_bytes}"
        )


@dataclass
class _Open:
    """A collection being scanned: its expanded node count so far and its anchor."""

    nodes: int
    anchor: str | None


def _scan(text: str, *, source: str, limits: DocumentLimits) -> None:
    """Walk the parser's events (no values built) and enforce the depth, node and count limits.

    An anchor's expanded size is known when its node ends; an alias adds that size. An alias
    to a node still open is recursive, which JSON (and so Kubernetes) cannot represent.
    """
    scan = _Scan(source=source, limits=limits)
    try:
        for event in yaml.parse(text, Loader=_BaseLoader):
            scan.see(event)
    except yaml.YAMLError as error:
        raise _document_error(error, source=source) from None


@dataclass
class _Scan:
    """The running state of _scan(): open collections, anchor sizes, totals."""

    source: str
    limits: DocumentLimits
    stack: list[_Open] = field(default_factory=list)
    sizes: dict[str, int] = field(default_factory=dict)
    nodes: int = 0
    documents: int = 0
    document_start: int = 0

    def see(self, event: yaml.Event) -> None:
        limits = self.limits
        if isinstance(event, yaml.ScalarEvent):
            self.add(1, event)
            if event.anchor is not None:
                self.sizes[event.anchor] = 1
        elif isinstance(event, yaml.AliasEvent):
            anchor = event.anchor or ""
            if any(node.anchor == anchor for node in self.stack):
                raise self.fail(f"recursive alias {clipped('*' + anchor)}", event)
            # An undefined alias counts one node here; the loader then reports it.
            self.add(self.sizes.get(anchor, 1), event)
        elif isinstance(event, yaml.CollectionStartEvent):
            if len(self.stack) >= limits.max_depth:
                raise self.fail(f"nests deeper than {limits.max_depth} levels", event)
            self.add(1, event)
            # Pushed after add(): its own node counts in its parent, its contents when it ends.
            self.stack.append(_Open(nodes=0, anchor=event.anchor))
        elif isinstance(event, yaml.CollectionEndEvent):
            done = self.stack.pop()
            if done.anchor is not None:
                self.sizes[done.anchor] = done.nodes + 1
            if self.stack:
                self.stack[-1].nodes += done.nodes
        elif isinstance(event, yaml.DocumentStartEvent):
            self.documents += 1
            if self.documents > limits.max_documents:
                raise self.fail(f"holds more than {limits.max_documents} documents", event)
            self.document_start = _index(event)
            self.sizes.clear()  # anchors are scoped to their document
        elif (
            isinstance(event, yaml.DocumentEndEvent)
            and _index(event) - self.document_start > limits.max_document_bytes
        ):
            raise self.fail(
                f"document is longer than {limits.max_document_bytes} characters", event
            )

    def add(self, nodes: int, event: yaml.Event) -> None:
        self.nodes += nodes
        if self.nodes > self.limits.max_nodes:
            raise self.fail(
                f"expands to more than {self.limits.max_nodes} nodes (aliases counted expanded)",
                event,
            )
        if self.stack:
            self.stack[-1].nodes += nodes

    def fail(self, message: str, event: yaml.Event) -> DocumentError:
        mark = event.start_mark
        line, column = (mark.line + 1, mark.column + 1) if mark is not None else (0, 0)
        return DocumentError(source=self.source, message=message, line=line, column=column)


def _index(event: yaml.Event) -> int:
    """Where an event ends, in characters from the start of the text."""
    mark = event.end_mark
    return mark.index if mark is not None else 0


def _document_error(error: yaml.YAMLError, *, source: str) -> DocumentError:
    """A parser or constructor error with its position, its wording clipped."""
    if isinstance(error, yaml.MarkedYAMLError):
        mark = error.problem_mark or error.context_mark
        problem = error.problem or error.context or "invalid YAML"
        message = f"invalid YAML: {_clip_message(problem)}"
        if mark is not None:
            return DocumentError(
                source=source, message=message, line=mark.line + 1, column=mark.column + 1
            )
        return DocumentError(source=source, message=message)
    return DocumentError(source=source, message=f"invalid YAML: {_clip_message(str(error))}")


def _clip_message(message: str, limit: int = 4 * MAX_SHOWN) -> str:
    # Parser messages quote the input (an undefined alias, an unknown tag): keep them short.
    message = " ".join(message.split())
    return message if len(message) <= limit else f"{message[:limit]}..."


_PLAIN_TAG: Final = "tag:netiso.io,2026:plain"
_MERGE_TAG: Final = "tag:yaml.org,2002:merge"


class _StrictLoader(_BaseLoader):  # type: ignore[valid-type,misc]
    """The safe loader, rejecting duplicate keys and typing plain scalars as kubectl does
    (model/scalars.py): the API server must get the values netiso validated."""

    source = "<input>"

    def resolve(self, kind: type[yaml.Node], value: str, implicit: tuple[bool, bool]) -> str:
        if kind is yaml.ScalarNode and implicit[0]:
            return _MERGE_TAG if value == "<<" else _PLAIN_TAG
        return super().resolve(kind, value, implicit)  # type: ignore[no-any-return]

    def construct_plain(self, node: yaml.ScalarNode) -> object:
        try:
            return plain_scalar(node.value)
        except NotJson as error:
            raise yaml.constructor.ConstructorError(
                None, None, str(error), node.start_mark
            ) from None

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, yaml.Node] = {}
        for key_node, _ in node.value:
            # `<<` merges are YAML's own override mechanism, not duplicates.
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = json_key(self.construct_object(key_node, deep=True))
            try:
                first = seen.setdefault(key, key_node)
            except TypeError:
                continue  # unhashable: the base constructor reports it
            if first is not key_node:
                raise DocumentError(
                    source=self.source,
                    message=f"duplicate key {clipped(str(key))}",
                    note=f"first at line {first.start_mark.line + 1}",
                    line=key_node.start_mark.line + 1,
                    column=key_node.start_mark.column + 1,
                )
        result: dict[Any, Any] = super().construct_mapping(node, deep=deep)
        return {json_key(key): value for key, value in result.items()}


_StrictLoader.add_constructor(_PLAIN_TAG, _StrictLoader.construct_plain)
# Kubernetes reads a date tagged !!timestamp as a string; PyYAML would build a datetime.date.
_StrictLoader.add_constructor(
    "tag:yaml.org,2002:timestamp", yaml.constructor.SafeConstructor.construct_yaml_str
)
