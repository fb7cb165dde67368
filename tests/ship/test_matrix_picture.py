"""`netiso matrix -o html|svg|png` opened in a real browser (Debian's headless chromium).

The matrix shows the cells the JSON says (every ordered pair of pods, ports on hover and in the
cell, the colour of what is allowed, as the browser computes it); clicking a collapsed namespace
expands it and the button goes back; a hostile name is shown, never run; and the pictures look
as the golden screenshots in tests/golden/pictures do, within a tolerance for anti-aliasing.
Regenerate the screenshots after an intended change with NETISO_UPDATE_GOLDEN=1 and look at them.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageChops

from netiso.cli.app import main
from netiso.cli.pictures import COLOURS, screenshot_command

from .conftest import require_tool

INPUTS = ("tests/golden/reachability/inputs",)
RING = "tests/golden/pictures/ring.yaml"
GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "pictures"
UPDATE = os.environ.get("NETISO_UPDATE_GOLDEN") == "1"
# A pixel differs when a channel moves by more than this; a picture matches while at most
# TOLERANCE of its pixels differ (font hinting and anti-aliasing move edges by a pixel).
CHANNEL = 48
TOLERANCE = 0.01
# Appended to the page under test only: reads what the browser rendered into the DOM, which
# --dump-dom then prints.
PROBE = """<script>
const cells = [...document.querySelectorAll("td[data-src]")].map(cell => ({
  src: cell.dataset.src, dst: cell.dataset.dst, allowed: JSON.parse(cell.dataset.allowed),
  title: cell.title, text: cell.textContent, colour: getComputedStyle(cell).backgroundColor,
  width: cell.getBoundingClientRect().width}));
const groups = Object.fromEntries([...document.querySelectorAll("th.col")].map(
  header => [header.textContent, header.title.split(", ")]));
const out = document.createElement("pre");
out.id = "probe";
out.textContent = JSON.stringify({cells, groups});
document.body.appendChild(out);
</script>"""
# Clicks the box of `team-c`, then the way back, noting the nodes drawn at each step.
CLICK = """<script>
const nodes = () => [...document.querySelectorAll("#view g.node")].map(n => n.dataset.name);
const steps = [nodes()];
const box = [...document.querySelectorAll("#view g.box[data-expand]")]
  .find(b => b.querySelector("title").textContent === "team-c");
box.dispatchEvent(new MouseEvent("click", {bubbles: true}));
steps.push(nodes());
document.querySelector("[data-overview]").dispatchEvent(new MouseEvent("click", {bubbles: true}));
steps.push(nodes());
const out = document.createElement("pre");
out.id = "probe";
out.textContent = JSON.stringify(steps);
document.body.appendChild(out);
</script>"""
# Reads whether anything the page was given ran, and what it shows as text.
HOSTILE_PROBE = """<script>
const out = document.createElement("pre");
out.id = "probe";
out.textContent = JSON.stringify({pwned: window.pwned === 1, alerted: window.alerted === 1,
  images: document.querySelectorAll("img").length,
  scripts: document.querySelectorAll("script").length, text: document.body.innerText});
document.body.appendChild(out);
</script>"""
HOSTILE = """
apiVersion: v1
kind: Pod
metadata:
  name: "<img src=x onerror=window.alerted=1>"
  namespace: "<script>window.pwned=1</script>"
  labels: {app: a}
spec: {containers: [{name: c}]}
---
apiVersion: v1
kind: Pod
metadata: {name: b, namespace: "<script>window.pwned=1</script>", labels: {app: b}}
spec: {containers: [{name: c}]}
"""


@pytest.fixture(scope="module")
def chromium() -> str:
    return require_tool("chromium", hint="apt-get install chromium; .ci/install-system-deps.sh")


def rgb(colour: str) -> str:
    red, green, blue = (int(colour[index : index + 2], 16) for index in (1, 3, 5))
    return f"rgb({red}, {green}, {blue})"


def netiso(repo: Path, capsys: pytest.CaptureFixture[str], *argv: str, inputs: Any = INPUTS) -> str:
    code = main([argv[0], *(arg for name in inputs for arg in ("-f", str(repo / name))), *argv[1:]])
    out, _ = capsys.readouterr()
    assert code == 0
    return out


def browser(chromium: str, profile: Path, *flags: str) -> list[str]:
    # A profile of its own: several people's browsers on one machine must not share one.
    return [
        chromium,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--hide-scrollbars",
        "--force-device-scale-factor=1",
        f"--user-data-dir={profile}",
        *flags,
    ]


def rendered(chromium: str, page: Path) -> Any:
    result = subprocess.run(
        [*browser(chromium, page.parent / "profile"), "--dump-dom", page.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    start = result.stdout.index('<pre id="probe">') + len('<pre id="probe">')
    end = result.stdout.index("</pre>", start)
    text = result.stdout[start:end].replace("&lt;", "<").replace("&gt;", ">")
    return json.loads(text.replace("&quot;", '"').replace("&amp;", "&"))


def screenshot(chromium: str, page: Path, *, width: int, height: int) -> Image.Image:
    """The page as `netiso matrix -o png` draws an SVG with chromium."""
    shot = page.with_suffix(".png")
    command = screenshot_command(
        chromium, page=page, shot=shot, width=width, height=height, profile=page.parent
    )
    subprocess.run(command, capture_output=True, timeout=120, check=True)
    return Image.open(io.BytesIO(shot.read_bytes())).convert("RGB")


def check_picture(name: str, image: Image.Image, *, tmp_path: Path) -> None:
    golden = GOLDEN / name
    if UPDATE:
        image.save(golden)
    assert golden.exists(), f"{golden} missing: run with NETISO_UPDATE_GOLDEN=1"
    expected = Image.open(golden).convert("RGB")
    assert image.size == expected.size
    difference = ImageChops.difference(image, expected).convert("L")
    differing = difference.point(lambda value: 255 if value > CHANNEL else 0).histogram()[255]
    share = differing / (image.size[0] * image.size[1])
    actual = tmp_path / name
    image.save(actual)
    assert share <= TOLERANCE, f"{share:.2%} of {name} differs: compare {actual} with {golden}"


def test_the_html_matrix_shows_in_a_browser_what_the_json_says(
    repo: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path, chromium: str
) -> None:
    body = json.loads(netiso(repo, capsys, "matrix", "-o", "json"))
    page = tmp_path / "matrix.html"
    page.write_text(
        netiso(repo, capsys, "matrix", "-o", "html").replace("</body>", PROBE + "</body>")
    )
    shown = rendered(chromium, page)
    group_of = {pod: group for group, pods in shown["groups"].items() for pod in pods}
    assert sorted(group_of) == body["pods"]
    assert "shop/frontend" in shown["groups"]  # real names on both axes
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
                        assert shown_range in cell["text"]  # the ports are in the cell


def test_clicking_a_collapsed_namespace_expands_it_and_the_button_goes_back(
    repo: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path, chromium: str
) -> None:
    page = tmp_path / "ring.html"
    html = netiso(repo, capsys, "matrix", "-o", "html", inputs=(RING,))
    page.write_text(html.replace("</body>", CLICK + "</body>"))
    before, expanded, after = rendered(chromium, page)
    assert "team-c/*" in before
    assert not any(name.startswith("team-c/") and name != "team-c/*" for name in before)
    assert {"team-c/web", "team-c/api", "team-c/db", "team-c/worker"} <= set(expanded)
    assert "team-c/*" not in expanded
    assert after == before


def test_a_hostile_name_is_shown_and_never_run(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, chromium: str
) -> None:
    (tmp_path / "hostile.yaml").write_text(HOSTILE)
    page = tmp_path / "hostile.html"
    html = netiso(
        Path("/"), capsys, "matrix", "-o", "html", inputs=(str(tmp_path / "hostile.yaml"),)
    )
    page.write_text(html.replace("</body>", HOSTILE_PROBE + "</body>"))
    seen = rendered(chromium, page)
    assert (seen["pwned"], seen["alerted"], seen["images"]) == (False, False, 0)
    assert seen["scripts"] == 2  # the page's own and the probe
    assert "<script>window.pwned=1</script>" in seen["text"]
    assert "<img src=x onerror=window.alerted=1>" in seen["text"]


def test_the_svg_graph_is_well_formed_with_a_titled_edge_per_connection(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    svg = ET.fromstring(netiso(repo, capsys, "matrix", "-o", "svg"))
    namespace = "{http://www.w3.org/2000/svg}"
    paths = [p for p in svg.iter(f"{namespace}path") if "edge" in (p.get("class") or "")]
    assert paths
    assert all(path.find(f"{namespace}title") is not None for path in paths)
    boxes = {box.findtext(f"{namespace}title") for box in svg.iter(f"{namespace}g")}
    assert {"shop", "payments", "kube-system", "outside the cluster"} <= boxes


@pytest.mark.parametrize(
    ("name", "argv", "inputs", "size"),
    [
        ("matrix-page.png", ("-o", "html"), INPUTS, (1200, 1400)),
        ("ring-collapsed.png", ("-o", "svg"), (RING,), None),
        ("ring-expanded.png", ("-o", "svg", "--expand", "team-c"), (RING,), None),
    ],
    ids=["page", "collapsed", "expanded"],
)
def test_pictures_look_like_the_golden_screenshots(
    repo: Path,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    chromium: str,
    name: str,
    argv: tuple[str, ...],
    inputs: tuple[str, ...],
    size: tuple[int, int] | None,
) -> None:
    text = netiso(repo, capsys, "matrix", *argv, inputs=inputs)
    page = tmp_path / ("page.html" if argv[1] == "html" else "graph.svg")
    page.write_text(text)
    if size is None:
        root = ET.fromstring(text)
        size = (int(root.get("width", "0")), int(root.get("height", "0")))
    check_picture(
        name, screenshot(chromium, page, width=size[0], height=size[1]), tmp_path=tmp_path
    )


def test_png_is_the_svg_drawn_by_an_installed_renderer(
    repo: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path, chromium: str
) -> None:
    del chromium  # the renderer -o png finds on PATH
    root = ET.fromstring(netiso(repo, capsys, "matrix", "-o", "svg", inputs=(RING,)))
    done = subprocess.run(
        [
            str(Path(sys.executable).with_name("netiso")),
            "matrix",
            "-f",
            str(repo / RING),
            "-o",
            "png",
        ],
        capture_output=True,
        timeout=180,
        check=True,
    )
    image = Image.open(io.BytesIO(done.stdout))
    assert image.format == "PNG"
    assert image.size == (int(root.get("width", "0")), int(root.get("height", "0")))
    if shutil.which("rsvg-convert") is None:  # drawn by chromium, as the golden was
        check_picture("ring-collapsed.png", image.convert("RGB"), tmp_path=tmp_path)
