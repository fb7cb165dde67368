"""How the `netiso` command prints objects: kubectl-style tables, `-o wide`, `-o json|yaml`,
`-o name`, `-o jsonpath=TEMPLATE` and `--no-headers`.

Top layer, pure: rows and plain data in, text out. Every command that prints objects takes the
same `-o/--output` option from here, so the formats mean the same everywhere; a listing prints
as a Kubernetes `List` (apiVersion v1, kind List, items) in JSON and YAML, as kubectl does.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from typing import Any, Final

import yaml

from netiso.cli.exits import UsageError
from netiso.cli.jsonpaths import JsonPathError, render

TABLE: Final = "table"
WIDE: Final = "wide"
JSON: Final = "json"
YAML: Final = "yaml"
NAME: Final = "name"
JSONPATH: Final = "jsonpath"
# kubectl separates columns by three spaces.
_GAP: Final = "   "


def add_output_option(
    parser: argparse.ArgumentParser,
    *,
    formats: Sequence[str],
    default: str,
    no_headers: bool = False,
) -> None:
    """`-o/--output FORMAT`, one of `formats` (the first documented is `default`).

    With JSONPATH among `formats`, `-o jsonpath=TEMPLATE` sets `args.output` to "jsonpath" and
    `args.template` to TEMPLATE. `no_headers` adds kubectl's `--no-headers` for the tables.
    """
    shown = [f"{name}=TEMPLATE" if name == JSONPATH else name for name in formats]
    parser.add_argument(
        "--output",
        "-o",
        action=OutputAction,
        formats=tuple(formats),
        default=default,
        metavar="FORMAT",
        help=f"output format: {', '.join(shown)} (default: {default})",
    )
    parser.set_defaults(template="")
    if no_headers:
        parser.add_argument(
            "--no-headers",
            action="store_true",
            help="print the table's rows without the header row (and without a summary line)",
        )


class OutputAction(argparse.Action):
    """Store `-o`'s format, splitting `jsonpath=TEMPLATE` into the format and its template."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        self.formats: tuple[str, ...] = kwargs.pop("formats")
        super().__init__(option_strings, dest, **kwargs)

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        name, equals, template = str(values).partition("=")
        if name not in self.formats or (name == JSONPATH) != bool(equals):
            shown = ", ".join(f"{f}=TEMPLATE" if f == JSONPATH else f for f in self.formats)
            parser.error(f"argument --output/-o: invalid format {values!r} (choose from {shown})")
        if name == JSONPATH and not template:
            parser.error("argument --output/-o: jsonpath= needs a template: -o jsonpath='{.items}'")
        setattr(namespace, self.dest, name)
        namespace.template = template


def listing(items: Sequence[Any]) -> dict[str, Any]:
    """`items` as a Kubernetes List, the shape `kubectl get -o json` prints."""
    return {"apiVersion": "v1", "kind": "List", "items": list(items)}


def data_text(data: Any, *, output: str, template: str = "") -> str:
    """`data` as JSON, YAML or through a JSONPath template (a UsageError names a bad one)."""
    if output == JSONPATH:
        try:
            return render(template, data)
        except JsonPathError as error:
            raise UsageError(f"--output jsonpath: {error}") from None
    return dumps(data, output=output)


def table(header: Sequence[str], rows: Sequence[Sequence[str]], *, headers: bool = True) -> str:
    """Left-aligned columns as kubectl prints them; the last column is not padded. Without
    `headers` the header row is left out (kubectl's --no-headers)."""
    lines = ([list(header)] if headers else []) + [list(row) for row in rows]
    if not lines:
        return ""
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    return "\n".join(
        _GAP.join([cell.ljust(widths[i]) for i, cell in enumerate(line[:-1])] + [line[-1]]).rstrip()
        for line in lines
    )


def dumps(data: Any, *, output: str) -> str:
    """`data` as JSON (indented, as kubectl does) or YAML (keys in the given order)."""
    if output == JSON:
        return json.dumps(data, indent=2) + "\n"
    if output == YAML:
        text: str = yaml.safe_dump(data, sort_keys=False, default_flow_style=False)
        return text
    raise ValueError(f"not a data format: {output}")
