"""The reachability matrix as pictures: an SVG graph, a self-contained HTML page (the graph, the
matrix with real names on both axes and the ports in its cells, a click to expand a collapsed
namespace), Graphviz DOT, and PNG where a renderer is installed.

Top layer beside cli: graphs.py places everything; this module writes markup and reads
nothing. Every name from the input is escaped wherever it lands (text, attributes), so a
namespace called `<script>` is shown, never run; the page loads nothing from the network.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from html import escape
from pathlib import Path
from typing import Final

from netiso.cli.graphs import BULGE, NODE_HEIGHT, NODE_WIDTH, Box, Edge, Graph, Node
from netiso.reachability.portsets import PortSet

COLOURS: Final = {"all": "#2e7d32", "some": "#f9a825", "none": "#c62828", "single": "#9e9e9e"}
# Node fills and strokes by kind.
_NODE_STYLE: Final = {
    "workload": ("#e3f2fd", "#1e88e5"),
    "namespace": ("#ede7f6", "#5e35b1"),
    "external": ("#fff3e0", "#ef6c00"),
}
# Characters of a label that fit in a node at 12px.
_LABEL_CHARACTERS: Final = 27
_FONT: Final = "DejaVu Sans, Verdana, sans-serif"
# The most collapsed namespaces an HTML page carries an expanded view of (one SVG each).
MAX_EXPANSIONS: Final = 60


def kind_of(allowed: PortSet) -> str:
    """The colour class of an answer: everything, some ports, or nothing."""
    return "all" if allowed.everything else ("none" if allowed.empty else "some")


def node_name(node: Node) -> str:
    """A node's name on the matrix's axes: `shop/frontend`, `shop/*` for a collapsed one."""
    if node.kind == "namespace":
        return f"{node.namespace}/*"
    return f"{node.namespace}/{node.label}" if node.namespace else node.label


def _short(text: str) -> str:
    return text if len(text) <= _LABEL_CHARACTERS else text[: _LABEL_CHARACTERS - 1] + "…"


# --- SVG -----------------------------------------------------------------------------------


def svg_picture(graph: Graph, *, expandable: Sequence[str] = ()) -> str:
    """The graph as a standalone SVG image. Boxes of namespaces in `expandable` carry
    `data-expand` (their index there), which the HTML page's script answers with a click."""
    width, height = round(graph.width), round(graph.height)
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="{_FONT}" font-size="12" '
        'class="graph">',
        "<title>netiso: who can reach whom (arrows point from sender to receiver)</title>",
        "<defs>",
        *(
            f'<marker id="arrow-{kind}" viewBox="0 0 10 10" refX="9" refY="5" '
            f'markerWidth="7" markerHeight="7" orient="auto-start-reverse">'
            f'<path d="M0,0 L10,5 L0,10 z" fill="{COLOURS[kind]}"/></marker>'
            for kind in ("all", "some")
        ),
        "</defs>",
        f'<rect width="{width}" height="{height}" fill="#ffffff"/>',
    ]
    for box in graph.boxes:
        out.append(_box(box, expandable=expandable))
    spread = _endpoint_offsets(graph.edges)
    out.append('<g class="edges" fill="none">')
    labels = []
    # Where labels may not go: the nodes, then each label placed.
    taken: list[tuple[float, float, float, float]] = [
        (node.x, node.y, NODE_WIDTH, NODE_HEIGHT) for node in graph.nodes
    ]
    for number, edge in enumerate(graph.edges):
        path, curve = _edge_path(graph, edge, offsets=spread[number])
        kind = kind_of(edge.allowed)
        source, target = graph.node(edge.source), graph.node(edge.target)
        arrow = "↔" if edge.both else "→"
        title = escape(f"{node_name(source)} {arrow} {node_name(target)}: {edge.label}")
        start = f' marker-start="url(#arrow-{kind})"' if edge.both else ""
        out.append(
            f'<path d="{path}" stroke="{COLOURS[kind]}" stroke-width="1.6" '
            f'marker-end="url(#arrow-{kind})"{start} class="edge {kind}" '
            f'data-src="{escape(node_name(source))}" data-dst="{escape(node_name(target))}">'
            f"<title>{title}</title></path>"
        )
        if edge.source == edge.target:
            # A loop's label stands beyond the loop, clear of the node.
            across = _label_width(_short(edge.label))
            outward = 1 if curve[1][0] > curve[0][0] else -1
            x, y = curve[0][0] + outward * (across / 2 + 38), curve[0][1] + 8
            taken.append((x - across / 2, y - 9, across, 16.0))
        else:
            x, y = _label_place(curve, text=_short(edge.label), taken=taken)
        labels.append(_edge_label(edge.label, x=x, y=y, title=title))
    out.append("</g>")
    out.append('<g class="edge-labels">')
    out.extend(labels)
    out.append("</g>")
    for node in graph.nodes:
        out.append(_node(node))
    out.append("</svg>\n")
    return "\n".join(out)


def _box(box: Box, *, expandable: Sequence[str]) -> str:
    title = box.namespace or "outside the cluster"
    heading = escape(_short(title if box.namespace else "outside the cluster"))
    attributes = ""
    hint = ""
    if box.collapsed and box.namespace in expandable:
        attributes = f' data-expand="{expandable.index(box.namespace)}" style="cursor:pointer"'
        hint = " ⊕"
    fill, stroke, dash = (
        ("#fafafa", "#b0bec5", ' stroke-dasharray="5 4"')
        if not box.namespace
        else ("#f5f7fa", "#78909c", "")
    )
    return (
        f'<g class="box"{attributes}><title>{escape(title)}</title>'
        f'<rect x="{box.x}" y="{box.y}" width="{box.width}" height="{box.height}" rx="8" '
        f'fill="{fill}" stroke="{stroke}"{dash}/>'
        f'<text x="{box.x + 12}" y="{box.y + 20}" font-weight="bold" fill="#37474f">'
        f"{heading}{hint}</text></g>"
    )


def _node(node: Node) -> str:
    fill, stroke = _NODE_STYLE[node.kind]
    members = escape(", ".join(node.members))
    label = escape(_short(node.label))
    return (
        f'<g class="node {node.kind}" data-name="{escape(node_name(node))}">'
        f"<title>{members}</title>"
        f'<rect x="{node.x}" y="{node.y}" width="{NODE_WIDTH}" height="{NODE_HEIGHT}" rx="6" '
        f'fill="{fill}" stroke="{stroke}" stroke-width="1.4"/>'
        f'<text x="{node.x + NODE_WIDTH / 2}" y="{node.y + NODE_HEIGHT / 2 + 4}" '
        f'text-anchor="middle" fill="#263238">{label}</text></g>'
    )


def _label_width(text: str) -> float:
    return 7.0 * len(text) + 8


def _label_place(
    curve: Sequence[tuple[float, float]],
    *,
    text: str,
    taken: list[tuple[float, float, float, float]],
) -> tuple[float, float]:
    """A point on the curve (its middle if free) where the label overlaps no node and no
    label placed before; the middle when every candidate is taken. Records the choice."""
    width, height = _label_width(text), 16.0
    best = _bezier(curve, 0.5)
    for t in (0.5, 0.4, 0.6, 0.3, 0.7, 0.2, 0.8, 0.45, 0.55, 0.35, 0.65):
        x, y = _bezier(curve, t)
        box = (x - width / 2, y - 9, width, height)
        if not any(_overlap(box, other) for other in taken):
            best = (x, y)
            break
    taken.append((best[0] - width / 2, best[1] - 9, width, height))
    return best


def _bezier(curve: Sequence[tuple[float, float]], t: float) -> tuple[float, float]:
    (x0, y0), (x1, y1), (x2, y2), (x3, y3) = curve
    u = 1 - t
    return (
        u**3 * x0 + 3 * u * u * t * x1 + 3 * u * t * t * x2 + t**3 * x3,
        u**3 * y0 + 3 * u * u * t * y1 + 3 * u * t * t * y2 + t**3 * y3,
    )


def _overlap(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> bool:
    return a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and b[1] < a[1] + a[3]


def _edge_label(text: str, *, x: float, y: float, title: str) -> str:
    shown = escape(_short(text))
    width = _label_width(_short(text))
    return (
        f'<g class="edge-label"><title>{title}</title>'
        f'<rect x="{x - width / 2:.1f}" y="{y - 9:.1f}" width="{width}" height="16" rx="3" '
        f'fill="#ffffff" fill-opacity="0.9" stroke="#cfd8dc" stroke-width="0.6"/>'
        f'<text x="{x:.1f}" y="{y + 3:.1f}" text-anchor="middle" font-size="11" '
        f'fill="#263238">{shown}</text></g>'
    )


def _endpoint_offsets(edges: Sequence[Edge]) -> list[tuple[float, float]]:
    """Spread the ends of edges meeting one node along its side, so arrows stay apart."""
    ends: dict[str, list[int]] = {}
    for number, edge in enumerate(edges):
        ends.setdefault(edge.source, []).append(number)
        ends.setdefault(edge.target, []).append(number)
    offsets = [[0.0, 0.0] for _ in edges]
    for node_id, numbers in ends.items():
        step = min(5.0, (NODE_HEIGHT - 8) / max(1, len(numbers)))
        for place, number in enumerate(numbers):
            shift = (place - (len(numbers) - 1) / 2) * step
            side = 0 if edges[number].source == node_id else 1
            offsets[number][side] = shift
    return [(a, b) for a, b in offsets]


def _edge_path(
    graph: Graph, edge: Edge, *, offsets: tuple[float, float]
) -> tuple[str, tuple[tuple[float, float], ...]]:
    """An SVG path from the source's side to the target's, and its Bézier control points."""
    source, target = graph.node(edge.source), graph.node(edge.target)
    sy = source.y + NODE_HEIGHT / 2 + offsets[0]
    ty = target.y + NODE_HEIGHT / 2 + offsets[1]
    if source.id == target.id:
        outward = -1 if source.x + NODE_WIDTH / 2 < graph.width / 2 else 1
        x = source.x + (NODE_WIDTH if outward > 0 else 0)
        reach = x + outward * 46
        loop = ((x, sy - 8), (reach, sy - 34), (reach, sy + 34), (x, sy + 8))
        return _path(loop), loop
    if abs(source.x - target.x) < 1:
        # One column: leave and enter on the outer side, bulging out by the distance.
        outward = -1 if source.x + NODE_WIDTH / 2 < graph.width / 2 else 1
        sx = tx = source.x + (NODE_WIDTH if outward > 0 else 0)
        bulge = outward * min(BULGE - 10, 40 + abs(ty - sy) * 0.3)
        c1, c2 = (sx + bulge, sy), (tx + bulge, ty)
    elif target.x > source.x:
        sx, tx = source.x + NODE_WIDTH, target.x
        reach = max(40.0, (tx - sx) * 0.5)
        c1, c2 = (sx + reach, sy), (tx - reach, ty)
    else:
        sx, tx = source.x, target.x + NODE_WIDTH
        reach = max(40.0, (sx - tx) * 0.5)
        c1, c2 = (sx - reach, sy), (tx + reach, ty)
    curve = ((sx, sy), c1, c2, (tx, ty))
    return _path(curve), curve


def _path(curve: Sequence[tuple[float, float]]) -> str:
    (x0, y0), (x1, y1), (x2, y2), (x3, y3) = curve
    return f"M{x0:.1f},{y0:.1f} C{x1:.1f},{y1:.1f} {x2:.1f},{y2:.1f} {x3:.1f},{y3:.1f}"


# --- HTML ----------------------------------------------------------------------------------

_STYLE: Final = (
    "body{font-family:" + _FONT + ";margin:1.2em;color:#263238}"
    "h1{font-size:1.4em}h2{font-size:1.1em;margin-top:1.6em}"
    ".graph-frame{overflow:auto;border:1px solid #cfd8dc;border-radius:6px;max-width:100%}"
    "table.matrix{border-collapse:collapse;font-size:12px}"
    "table.matrix td{min-width:56px;height:22px;border:1px solid #fff;padding:2px 6px;"
    "text-align:center;white-space:nowrap}"
    "table.matrix th{font-weight:normal;padding:2px 6px;text-align:left;white-space:nowrap}"
    "th.col{writing-mode:vertical-rl;transform:rotate(180deg);vertical-align:bottom}"
    "td.all{background:" + COLOURS["all"] + ";color:#fff}"
    "td.some{background:" + COLOURS["some"] + ";color:#263238}"
    "td.none{background:" + COLOURS["none"] + ";color:#fff}"
    "td.single{background:" + COLOURS["single"] + ";color:#fff}"
    ".legend span{display:inline-block;width:12px;height:12px;margin:0 4px 0 12px;"
    "vertical-align:middle}"
    "button{font:inherit;margin:0.6em 0}"
    "dt{font-weight:bold;margin-top:0.4em}"
)
# Clicking a collapsed namespace shows its expanded view (a <template> of this page); the
# button goes back. Only the page's own elements are read: no name is ever evaluated.
_SCRIPT: Final = """
const view = document.getElementById("view");
const overview = view.innerHTML;
function show(html) { view.innerHTML = html; window.scrollTo(0, 0); }
view.addEventListener("click", event => {
  const box = event.target.closest("[data-expand]");
  if (box) {
    const template = document.getElementById("expand-" + box.dataset.expand);
    if (template) { show(template.innerHTML); }
    return;
  }
  if (event.target.closest("[data-overview]")) { show(overview); }
});
"""


def html_picture(
    views: Sequence[Graph],
    *,
    notes: Sequence[str] = (),
    expandable: Sequence[str] = (),
) -> str:
    """A standalone HTML page: `views[0]` (the graph and its matrix), then one hidden view per
    namespace of `expandable`, `views[1:]` in the same order, shown by a click on its box."""
    graph = views[0]
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        # Nothing from elsewhere: no CDN, no fonts, no images; inline script and style only.
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "style-src 'unsafe-inline'; script-src 'unsafe-inline'\">",
        "<title>netiso: who can reach whom</title>",
        f"<style>{_STYLE}</style></head><body>",
        "<h1>Who can reach whom</h1>",
        "<p>Namespaces are boxes; a node is the pods of one namespace that behave identically; "
        "an arrow goes from sender to receiver and says what is allowed (no arrow: denied). "
        "Hover over anything for its pods and ports.</p>",
        _legend(),
        *(f'<p class="note">{escape(note)}</p>' for note in notes),
        '<div id="view">',
        _view(graph, expandable=expandable, overview=False),
        "</div>",
    ]
    for number, expanded in enumerate(views[1:]):
        out.append(f'<template id="expand-{number}">')
        out.append(_view(expanded, expandable=expandable, overview=True))
        out.append("</template>")
    out.append(f"<script>{_SCRIPT}</script>")
    out.append("</body></html>\n")
    return "\n".join(out)


def _legend() -> str:
    entries = (
        ("all", "everything"),
        ("some", "some ports"),
        ("none", "nothing"),
        ("single", "one pod"),
    )
    return (
        '<p class="legend">'
        + "".join(
            f'<span style="background:{COLOURS[kind]}"></span>{text}' for kind, text in entries
        )
        + "</p>"
    )


def _view(graph: Graph, *, expandable: Sequence[str], overview: bool) -> str:
    out = []
    if overview:
        shown = ", ".join(graph.expanded)
        out.append(
            f"<p><button data-overview>&#8592; all namespaces</button> "
            f"<b>{escape(shown)}</b> expanded.</p>"
        )
    elif graph.collapsed:
        out.append(
            f"<p>{len(graph.collapsed)} namespaces are collapsed to one node each; click a "
            "box marked ⊕ to expand it (or run <code>netiso matrix -o html --expand "
            "NAMESPACE</code>).</p>"
        )
    out.append('<div class="graph-frame">')
    out.append(svg_picture(graph, expandable=() if overview else expandable))
    out.append("</div>")
    out.append("<h2>Matrix</h2><p>Rows send, columns receive; each cell names what is allowed.</p>")
    out.append(_matrix_table(graph))
    out.append("<h2>Nodes</h2><dl>")
    for node in graph.internal():
        out.append(f"<dt>{escape(node_name(node))}</dt><dd>{escape(', '.join(node.members))}</dd>")
    out.append("</dl>")
    return "\n".join(out)


def _matrix_table(graph: Graph) -> str:
    nodes = graph.internal()
    names = [escape(node_name(node)) for node in nodes]
    out = ['<table class="matrix"><thead><tr><th></th>']
    out += [
        f'<th class="col" title="{escape(", ".join(node.members))}">{name}</th>'
        for node, name in zip(nodes, names, strict=True)
    ]
    out.append("</tr></thead><tbody>")
    for node, name in zip(nodes, names, strict=True):
        out.append(f'<tr><th class="row" title="{escape(", ".join(node.members))}">{name}</th>')
        for other, other_name in zip(nodes, names, strict=True):
            allowed = graph.allowed(node.id, other.id)
            if node.id == other.id and len(node.members) == 1:
                kind, text, shown = "single", "one pod: nothing to connect to", ""
            else:
                kind, text = kind_of(allowed), allowed.describe()
                shown = "" if allowed.empty else text
            out.append(
                f'<td class="{kind}" data-src="{name}" data-dst="{other_name}" '
                f"data-allowed='{escape(json.dumps(allowed.to_json()))}' "
                f'title="{name} &#8594; {other_name}: {escape(text)}">{escape(shown)}</td>'
            )
        out.append("</tr>")
    out.append("</tbody></table>")
    return "\n".join(out)


# --- DOT and PNG ---------------------------------------------------------------------------


def dot_picture(graph: Graph) -> str:
    """The graph in Graphviz's DOT language (`| dot -Tsvg`), one cluster per namespace."""

    def quoted(text: str) -> str:
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'

    out = [
        "digraph netiso {",
        '  rankdir=LR; fontname="sans-serif";',
        '  node [shape=box, style="rounded,filled", fontname="sans-serif", fontsize=11];',
        '  edge [fontname="sans-serif", fontsize=10];',
    ]
    for number, box in enumerate(graph.boxes):
        label = box.namespace or "outside the cluster"
        out.append(f"  subgraph cluster_{number} {{")
        out.append(f"    label={quoted(label)};")
        for node in graph.nodes:
            if node.namespace == box.namespace and (box.x <= node.x <= box.x + box.width):
                fill, stroke = _NODE_STYLE[node.kind]
                tooltip = quoted(", ".join(node.members))
                out.append(
                    f"    {quoted(node.id)} [label={quoted(node.label)}, "
                    f'fillcolor="{fill}", color="{stroke}", tooltip={tooltip}];'
                )
        out.append("  }")
    for edge in graph.edges:
        colour = COLOURS[kind_of(edge.allowed)]
        out.append(
            f"  {quoted(edge.source)} -> {quoted(edge.target)} "
            f'[label={quoted(edge.label)}, color="{colour}"];'
        )
    out.append("}")
    return "\n".join(out) + "\n"


class NoRenderer(RuntimeError):
    """No program that turns SVG into PNG is installed; the message names some."""


def png_picture(svg: str, *, width: int, height: int) -> bytes:
    """`svg` as PNG, by rsvg-convert (librsvg) or else a headless Chromium."""
    converter = shutil.which("rsvg-convert")
    if converter is not None:
        done = subprocess.run(
            [converter, "--format=png", "--background-color=white"],
            input=svg.encode(),
            capture_output=True,
            timeout=120,
            check=True,
        )
        return done.stdout
    browser = next(
        (
            found
            for name in ("chromium", "chromium-browser", "google-chrome")
            if (found := shutil.which(name))
        ),
        None,
    )
    if browser is None:
        raise NoRenderer(
            "-o png needs rsvg-convert (Debian: librsvg2-bin) or chromium on PATH; "
            "-o svg and -o html need nothing"
        )
    with tempfile.TemporaryDirectory(prefix="netiso-png-") as directory:
        page, shot = Path(directory, "graph.svg"), Path(directory, "graph.png")
        page.write_text(svg)
        subprocess.run(
            screenshot_command(
                browser, page=page, shot=shot, width=width, height=height, profile=page.parent
            ),
            capture_output=True,
            timeout=120,
            check=True,
        )
        return shot.read_bytes()


def screenshot_command(
    browser: str, *, page: Path, shot: Path, width: int, height: int, profile: Path
) -> list[str]:
    """A headless Chromium drawing `page` into the PNG `shot` at one CSS pixel per pixel, with
    a profile directory of its own (browsers of several users must not share one)."""
    return [
        browser,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--hide-scrollbars",
        "--force-device-scale-factor=1",
        f"--user-data-dir={profile}/profile",
        f"--window-size={width},{height}",
        f"--screenshot={shot}",
        page.as_uri(),
    ]
