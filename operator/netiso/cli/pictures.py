"""The reachability matrix as a picture: one self-contained HTML page or an SVG image.

Top layer beside cli: takes a reachability Grouping and pod names, writes markup, reads nothing.
Cells are coloured by what is allowed (everything, some ports, nothing) and say the ports on
hover (the title attribute in HTML, a <title> element in SVG).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from html import escape
from typing import Final

from netiso.reachability.grouping import Grouping
from netiso.reachability.portsets import PortSet

MAX_PICTURE_GROUPS: Final = 400
COLOURS: Final = {"all": "#2e7d32", "some": "#f9a825", "none": "#c62828", "single": "#9e9e9e"}
_CELL: Final = 18
_LABEL: Final = 60


def _cells(grouping: Grouping) -> list[list[tuple[str, str]]]:
    """Per source group, per destination group: (kind, hover text)."""
    rows = []
    for a, members in enumerate(grouping.groups):
        row = []
        for b in range(len(grouping.groups)):
            if a == b and len(members) == 1:
                row.append(("single", "one pod: nothing to connect to within the group"))
                continue
            allowed = grouping.between.get((a, b), PortSet.NONE)
            kind = "all" if allowed.everything else ("none" if allowed.empty else "some")
            row.append((kind, allowed.describe()))
        rows.append(row)
    return rows


def html_picture(
    grouping: Grouping, names: Sequence[Sequence[str]], *, notes: Sequence[str] = ()
) -> str:
    """A standalone HTML page: the group matrix, its legend, notes and the groups' members."""
    labels = [f"g{number + 1}" for number in range(len(grouping.groups))]
    style = "".join(f"td.{kind}{{background:{colour}}}" for kind, colour in COLOURS.items())
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8"><title>netiso matrix</title><style>',
        "body{font-family:sans-serif;margin:1em}table.matrix{border-collapse:collapse}"
        "table.matrix td{width:14px;height:14px;border:1px solid #fff;padding:0}"
        "th{font-weight:normal;font-size:11px;padding:0 4px}th.col{writing-mode:vertical-rl}"
        + style
        + ".legend span{display:inline-block;width:12px;height:12px;margin:0 4px 0 12px}",
        "</style></head><body>",
        "<h1>Who can reach whom</h1>",
        "<p>Rows send, columns receive. Hover over a cell for the allowed ports. Pods in one "
        "group behave identically.</p>",
        '<p class="legend">'
        + "".join(
            f'<span style="background:{COLOURS[kind]}"></span>{text}'
            for kind, text in (
                ("all", "everything"),
                ("some", "some ports"),
                ("none", "nothing"),
                ("single", "one pod"),
            )
        )
        + "</p>",
        *(f'<p class="note">{escape(note)}</p>' for note in notes),
        '<table class="matrix"><thead><tr><th></th>',
        *(
            f'<th class="col" title="{escape(", ".join(names[b]))}">{labels[b]}</th>'
            for b in range(len(labels))
        ),
        "</tr></thead><tbody>",
    ]
    for a, row in enumerate(_cells(grouping)):
        out.append(f'<tr><th class="row" title="{escape(", ".join(names[a]))}">{labels[a]}</th>')
        for b, (kind, text) in enumerate(row):
            allowed = grouping.between.get((a, b), PortSet.NONE)
            out.append(
                f'<td class="{kind}" data-src="{labels[a]}" data-dst="{labels[b]}" '
                f"data-allowed='{escape(json.dumps(allowed.to_json()))}' "
                f'title="{labels[a]} &#8594; {labels[b]}: {escape(text)}"></td>'
            )
        out.append("</tr>")
    out.append("</tbody></table><h2>Groups</h2><dl>")
    for label, members in zip(labels, names, strict=True):
        out.append(f"<dt>{label}</dt><dd>{escape(', '.join(members))}</dd>")
    out.append("</dl></body></html>\n")
    return "\n".join(out)


def svg_picture(grouping: Grouping, names: Sequence[Sequence[str]]) -> str:
    """An SVG image of the group matrix; each cell's <title> gives the allowed ports."""
    labels = [f"g{number + 1}" for number in range(len(grouping.groups))]
    size = _LABEL + _CELL * len(labels) + 10
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{size}" height="{size}" '
        f'viewBox="0 0 {size} {size}" font-family="sans-serif" font-size="10">',
        "<title>netiso matrix: rows send, columns receive</title>",
    ]
    for number, label in enumerate(labels):
        members = escape(", ".join(names[number]))
        offset = _LABEL + number * _CELL + _CELL // 2
        out.append(
            f'<text x="{_LABEL - 4}" y="{offset + 4}" text-anchor="end">'
            f"<title>{members}</title>{label}</text>"
        )
        out.append(
            f'<text x="{offset}" y="{_LABEL - 4}" text-anchor="start" '
            f'transform="rotate(-90 {offset} {_LABEL - 4})"><title>{members}</title>{label}</text>'
        )
    for a, row in enumerate(_cells(grouping)):
        for b, (kind, text) in enumerate(row):
            out.append(
                f'<rect x="{_LABEL + b * _CELL}" y="{_LABEL + a * _CELL}" width="{_CELL - 1}" '
                f'height="{_CELL - 1}" fill="{COLOURS[kind]}" class="{kind}" '
                f'data-src="{labels[a]}" data-dst="{labels[b]}">'
                f"<title>{labels[a]} &#8594; {labels[b]}: {escape(text)}</title></rect>"
            )
    out.append("</svg>\n")
    return "\n".join(out)
