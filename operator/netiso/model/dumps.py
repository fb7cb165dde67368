"""Loading cluster dumps (`netiso matrix -f`, `explain -f`): large YAML/JSON streams, bounded.

Model layer, pure: text in, plain values out, one document at a time. Values are built straight
from the parser's events, so no node graph (with two position marks per node) is ever held: a
100,000-policy dump costs the values it holds, not ten times that. Aliases are shared, never
copied, and the nodes they add are counted: an alias bomb is refused after a bounded amount of
work. A recursive alias, a duplicate key or an unknown tag is a DocumentError naming the line.
Plain scalars are typed as kubectl types them (model/scalars.py), as `netiso validate` reads.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Final

import yaml

from netiso.model.documents import DocumentError, _BaseLoader, _document_error, clipped
from netiso.model.scalars import NotJson, json_key, plain_scalar


@dataclass(frozen=True)
class DumpLimits:
    """Bounds on a dump. `max_alias_nodes` counts the nodes aliases add when expanded (a dump
    written by kubectl has none; hand-written YAML shares a few ports or selectors)."""

    max_alias_nodes: int = 100_000
    # Far deeper than any Kubernetes object, far below Python's recursion limit.
    max_depth: int = 100


DEFAULT_DUMP_LIMITS: Final = DumpLimits()

_STR: Final = "tag:yaml.org,2002:str"
_MERGE: Final = "tag:yaml.org,2002:merge"
_VALUE: Final = "tag:yaml.org,2002:value"
_TIMESTAMP: Final = "tag:yaml.org,2002:timestamp"
_COLLECTION_TAGS: Final = frozenset({None, "!", "tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"})
_KEY_TYPES: Final = (str, int, float, bool, type(None))


@dataclass
class _Open:
    """A collection being built: its value, its expanded size so far, its pending key."""

    value: dict[object, object] | list[object]
    anchor: str | None
    size: int = 1
    key: object = None
    key_event: yaml.Event | None = None
    has_key: bool = False
    merges: list[dict[object, object]] = field(default_factory=list)


def load_dump(
    text: str,
    *,
    source: str,
    limits: DumpLimits = DEFAULT_DUMP_LIMITS,
    on_item: Callable[[object], None] | None = None,
) -> Iterator[object]:
    """Each document of `text` (YAML or JSON) as plain values, empty documents as None.

    Timestamps stay strings, as the API server reads them; merge keys (`<<`) are applied.
    Raises DocumentError (with the line) for invalid YAML, a duplicate or non-scalar key, an
    unknown tag, a recursive alias, nesting beyond `limits.max_depth`, or aliases that would
    add more than `limits.max_alias_nodes` nodes to the document.

    With `on_item`, each item of a document's top-level `items` list (a `kubectl get -o yaml`
    List) is handed to it as soon as it is built and not kept: the document comes out with
    `items: []`, and a dump of 100,000 objects never holds more than one of them as values.
    """
    builder = _Builder(source=source, limits=limits, loader=_BaseLoader(text), on_item=on_item)
    # Many small containers are created and none is garbage: the cyclic collector would walk
    # the growing heap again and again (most of a large dump's load time), for nothing.
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield from builder.documents()
    except yaml.YAMLError as error:
        raise _document_error(error, source=source) from None
    finally:
        if enabled:
            gc.enable()
        builder.loader.dispose()


@dataclass
class _Builder:
    """The running state of load_dump(): open collections, anchors, the alias count."""

    source: str
    limits: DumpLimits
    loader: yaml.SafeLoader
    stack: list[_Open] = field(default_factory=list)
    anchors: dict[str, tuple[object, int]] = field(default_factory=dict)
    scalars: dict[tuple[str, str], object] = field(default_factory=dict)
    alias_nodes: int = 0
    root: object = None
    on_item: Callable[[object], None] | None = None

    def documents(self) -> Iterator[object]:
        loader = self.loader
        scalar_event, alias_event = yaml.ScalarEvent, yaml.AliasEvent
        start_events = (yaml.MappingStartEvent, yaml.SequenceStartEvent)
        end_events = (yaml.MappingEndEvent, yaml.SequenceEndEvent)
        while loader.check_event():
            event = loader.get_event()  # type: ignore[no-untyped-call]
            kind = type(event)
            if kind is scalar_event:
                value = self.scalar(event)
                if event.anchor is not None:
                    self.anchors[event.anchor] = (value, 1)
                self.put(value, 1, event)
            elif kind is alias_event:
                self.alias(event)
            elif kind in start_events:
                self.start(event)
            elif kind in end_events:
                self.end(event)
            elif kind is yaml.DocumentStartEvent:
                self.anchors.clear()  # anchors are scoped to their document
                self.alias_nodes = 0
                self.root = None
            elif kind is yaml.DocumentEndEvent:
                yield self.root
                self.root = None

    def scalar(self, event: yaml.ScalarEvent) -> object:
        tag = event.tag
        if (tag is None or tag == "!") and event.implicit[0]:
            # Typed as kubectl types it (model/scalars.py), as `netiso validate` reads it.
            if event.value == "<<":
                return _MergeKey
            try:
                return plain_scalar(event.value)
            except NotJson as error:
                raise self.fail(str(error), event) from None
        if tag is None or tag == "!":
            tag = _STR
        if tag in (_STR, _TIMESTAMP, _VALUE):
            return event.value
        if tag == _MERGE:
            return _MergeKey
        cached = self.scalars.get((tag, event.value), _MISSING)
        if cached is not _MISSING:
            return cached
        constructor = self.loader.yaml_constructors.get(tag)
        if constructor is None or not tag.startswith("tag:yaml.org,2002:"):
            raise self.fail(f"unsupported tag {clipped(tag)}", event)
        node = yaml.ScalarNode(tag, event.value, style=event.style)
        try:
            value: object = constructor(self.loader, node)
        except (yaml.YAMLError, ValueError):
            raise self.fail(
                f"cannot read {clipped(event.value)} as {clipped(tag)}", event
            ) from None
        if isinstance(value, bytes | list | dict):
            raise self.fail(f"unsupported tag {clipped(tag)}", event)
        if len(self.scalars) < 65536:
            self.scalars[(tag, event.value)] = value
        return value

    def alias(self, event: yaml.AliasEvent) -> None:
        anchor = event.anchor or ""
        if any(open_.anchor == anchor for open_ in self.stack):
            raise self.fail(f"recursive alias {clipped('*' + anchor)}", event)
        found = self.anchors.get(anchor)
        if found is None:
            raise self.fail(f"undefined alias {clipped('*' + anchor)}", event)
        value, size = found
        self.alias_nodes += size
        if self.alias_nodes > self.limits.max_alias_nodes:
            raise self.fail(
                f"aliases expand to more than {self.limits.max_alias_nodes} nodes", event
            )
        self.put(value, size, event)

    def start(self, event: yaml.CollectionStartEvent) -> None:
        if len(self.stack) >= self.limits.max_depth:
            raise self.fail(f"nests deeper than {self.limits.max_depth} levels", event)
        if event.tag not in _COLLECTION_TAGS:
            raise self.fail(f"unsupported tag {clipped(event.tag or '')}", event)
        container: dict[object, object] | list[object] = (
            {} if isinstance(event, yaml.MappingStartEvent) else []
        )
        self.stack.append(_Open(container, event.anchor))

    def end(self, event: yaml.CollectionEndEvent) -> None:
        done = self.stack.pop()
        value = done.value
        if done.merges:
            # Later merged maps give way to earlier ones, and all to the mapping's own keys.
            merged: dict[object, object] = {}
            for source in reversed(done.merges):
                merged.update(source)
            merged.update(value)  # type: ignore[arg-type]  # only mappings collect merges
            value = merged
        if done.anchor is not None:
            self.anchors[done.anchor] = (value, done.size)
        self.put(value, done.size, event)

    def put(self, value: object, size: int, event: yaml.Event) -> None:
        if not self.stack:
            self.root = value
            return
        top = self.stack[-1]
        top.size += size
        container = top.value
        if isinstance(container, list):
            if self.on_item is not None and self.streams(top):
                self.on_item(value)
            else:
                container.append(value)
        elif not top.has_key:
            if not isinstance(value, _KEY_TYPES) and value is not _MergeKey:
                raise self.fail("a mapping key must be a string, number, boolean or null", event)
            top.key, top.key_event, top.has_key = json_key(value), event, True
        else:
            top.has_key = False
            if top.key is _MergeKey:
                self.merge(top, value, event)
            elif top.key in container:
                raise self.fail(f"duplicate key {clipped(str(top.key))}", top.key_event or event)
            else:
                container[top.key] = value

    def streams(self, top: _Open) -> bool:
        """Whether `top` is the `items` list of the document's top-level mapping."""
        if len(self.stack) != 2 or top.anchor is not None:
            return False
        outer = self.stack[0]
        return isinstance(outer.value, dict) and outer.has_key and outer.key == "items"

    def merge(self, top: _Open, value: object, event: yaml.Event) -> None:
        sources = value if isinstance(value, list) else [value]
        for source in sources:
            if not isinstance(source, dict):
                raise self.fail("a merge key (<<) takes a mapping or a list of mappings", event)
            top.merges.append(source)

    def fail(self, message: str, event: yaml.Event) -> DocumentError:
        line = _line(event)
        column = event.start_mark.column + 1 if event.start_mark is not None else 0
        return DocumentError(source=self.source, message=message, line=line, column=column)


class _MergeKey:
    """The `<<` key of a mapping: a marker, never a value."""


_MISSING: Final = object()


def _line(event: yaml.Event) -> int:
    return event.start_mark.line + 1 if event.start_mark is not None else 0
