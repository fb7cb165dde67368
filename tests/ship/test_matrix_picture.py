"""`netiso matrix -o html` opened in a real browser (Debian's headless chromium) shows the cells
the JSON says: for every ordered pair of pods, the cell of their groups carries the pair's
allowed ports on hover and the colour of what is allowed, as the browser computes it.
"""

from __future__ import annotations

import json
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from netiso.cli.app import main
from netiso.cli.pictures import COLOURS

from .conftest import require_tool

INPUTS = ("tests/golden/reachability/inputs",)
# Appended to the page under test only: reads what the browser rendered into the DOM, which
# --dump-dom then prints.
PROBE = """<script>
const cells = [...document.querySelectorAll("td[data-src]")].map(cell => ({
  src: cell.dataset.src, dst: cell.dataset.dst, allowed: JSON.parse(cell.dataset.allowed),
  title: cell.title, colour: getComputedStyle(cell).backgroundColor,
  width: cell.getBoundingClientRect().width}));
const groups = Object.fromEntries([...document.querySelectorAll("th.col")].map(
  header => [header.textContent, header.title.split(", ")]));
const out = document.createElement("pre");
out.id = "probe";
out.textContent = JSON.stringify({cells, groups});
document.body.appendChild(out);
</script>"""


def rgb(colour: str) -> str:
    red, green, blue = (int(colour[index : index + 2], 16) for index in (1, 3, 5))
    return f"rgb({red}, {green}, {blue})"


def netiso(repo: Path, capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    code = main([argv[0], *(arg for name in INPUTS for arg in ("-f", str(repo / name))), *argv[1:]])
    out, _ = capsys.readouterr()
    assert code == 0
    return out


def rendered(chromium: str, page: Path) -> dict[str, Any]:
    result = subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom", page.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    start = result.stdout.index('<pre id="probe">') + len('<pre id="probe">')
    end = result.stdout.index("</pre>", start)
    text = result.stdout[start:end].replace("&lt;", "<").replace("&gt;", ">")
    return json.loads(text.replace("&quot;", '"').replace("&amp;", "&"))  # type: ignore[no-any-return]


def test_the_html_matrix_shows_in_a_browser_what_the_json_says(
    repo: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    chromium = require_tool("chromium", hint="apt-get install chromium; .ci/install-system-deps.sh")
    body = json.loads(netiso(repo, capsys, "matrix", "-o", "json"))
    page = tmp_path / "matrix.html"
    page.write_text(
        netiso(repo, capsys, "matrix", "-o", "html").replace("</body>", PROBE + "</body>")
    )
    shown = rendered(chromium, page)
    group_of = {pod: group for group, pods in shown["groups"].items() for pod in pods}
    assert sorted(group_of) == body["pods"]
    cells = {(cell["src"], cell["dst"]): cell for cell in shown["cells"]}
    assert len(cells) == len(shown["groups"]) ** 2
    allowed = {(entry["src"], entry["dst"]): entry["allowed"] for entry in body["connections"]}
    denied: dict[str, list[list[int]]] = {"TCP": [], "UDP": [], "SCTP": []}
    for source in body["pods"]:
        for destination in body["pods"]:
            if source == destination:
                continue
            cell = cells[(group_of[source], group_of[destination])]
            expected = allowed.get((source, destination), denied)
            assert cell["allowed"] == expected, (source, destination)
            kind = "all" if expected.get("all") else ("none" if expected == denied else "some")
            assert cell["colour"] == rgb(COLOURS[kind]), (source, destination, cell)
            assert cell["width"] > 5  # laid out, visible
            if kind == "some":
                for protocol, ranges in expected.items():
                    for low, high in ranges:
                        shown_range = str(low) if low == high else f"{low}-{high}"
                        assert f"{protocol} " in cell["title"]
                        assert shown_range in cell["title"]


def test_the_svg_matrix_is_well_formed_with_one_cell_per_pair_of_groups(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    svg = ET.fromstring(netiso(repo, capsys, "matrix", "-o", "svg"))
    namespace = "{http://www.w3.org/2000/svg}"
    cells = svg.findall(f"{namespace}rect")
    groups = {cell.get("data-src") for cell in cells}
    assert len(cells) == len(groups) ** 2
    assert all(cell.find(f"{namespace}title") is not None for cell in cells)
