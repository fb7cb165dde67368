"""How the `netiso` command prints objects: kubectl-style tables, `-o wide`, `-o json|yaml`.

Top layer, pure: rows and plain data in, text out. Every command that prints objects takes the
same `-o/--output` option from here, so the formats mean the same everywhere.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from typing import Any, Final

import yaml

TABLE: Final = "table"
WIDE: Final = "wide"
JSON: Final = "json"
YAML: Final = "yaml"
# kubectl separates columns by three spaces.
_GAP: Final = "   "


def add_output_option(
    parser: argparse.ArgumentParser, *, formats: Sequence[str], default: str
) -> None:
    """`-o/--output FORMAT`, one of `formats` (the first documented is `default`)."""
    parser.add_argument(
        "--output",
        "-o",
        choices=tuple(formats),
        default=default,
        metavar="FORMAT",
        help=f"output format: {', '.join(formats)} (default: {default})",
    )


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Left-aligned columns as kubectl prints them; the last column is not padded."""
    lines = [list(header), *[list(row) for row in rows]]
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
