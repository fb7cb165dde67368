"""`netiso matrix -o html|svg|dot|png`: the graph says what the matrix says, collapses a large
cluster to namespaces with a way to expand one, and shows hostile names as text.

Unit tests of cli.graphs and cli.pictures through the command, on the files the docs use
(tests/golden/reachability/inputs) and a ring of twelve teams (tests/golden/pictures/ring.yaml).
What a browser draws is tests/ship/test_matrix_picture.py.
"""

from __future__ import annotations

import json
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from netiso.cli.graphs import workload_name
from netiso.reachability.portsets import PortSet
from tests.unit.cli.running import run

REPO = Path(__file__).resolve().parents[3]
INPUTS = REPO / "tests" / "golden" / "reachability" / "inputs"
BASELINE = REPO / "manifests" / "samples" / "baseline.yaml"
RING = REPO / "tests" / "golden" / "pictures" / "ring.yaml"
SVG = "{http://www.w3.org/2000/svg}"
HOSTILE_NAMESPACE = "<script>window.pwned=1</script>"
HOSTILE = f"""
apiVersion: v1
kind: Pod
metadata: {{name: "<img src=x onerror=alert(1)>", namespace: "{HOSTILE_NAMESPACE}",
  labels: {{app: a}}}}
spec: {{containers: [{{name: c}}]}}
---
apiVersion: v1
kind: Pod
metadata: {{name: "b&amp;\\"q'", namespace: "{HOSTILE_NAMESPACE}", labels: {{app: b}}}}
spec: {{containers: [{{name: c}}]}}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {{name: p, namespace: "{HOSTILE_NAMESPACE}"}}
spec:
  podSelector: {{matchLabels: {{app: a}}}}
  ingress: [{{from: [{{podSelector: {{matchLabels: {{app: b}}}}}}], ports: [{{port: 80}}]}}]
"""


def matrix(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    code, out, err = run(capsys, "matrix", *argv)
    assert code == 0, err
    return out


def edges(svg: str) -> dict[tuple[str, str], str]:
    """(sender, receiver) -> the label of the SVG's edge between them (both ways when the
    edge has two arrowheads)."""
    found = {}
    for path in ET.fromstring(svg).iter(f"{SVG}path"):
        if "edge" not in (path.get("class") or ""):
            continue
        source, target = path.get("data-src", ""), path.get("data-dst", "")
        title = path.findtext(f"{SVG}title") or ""
        label = title.rpartition(": ")[2]
        found[(source, target)] = label
        if path.get("marker-start"):
            found[(target, source)] = label
    return found


def described(allowed: dict[str, Any]) -> str:
    """The JSON form of what is allowed, in words, as the picture writes it."""
    if allowed.get("all"):
        return PortSet.ALL.describe()
    ports = PortSet.NONE
    for protocol, ranges in allowed.items():
        ports = ports.union(PortSet.of(protocol, tuple((low, high) for low, high in ranges)))
    return ports.describe()


def test_the_graph_has_an_edge_for_every_allowed_pair_with_its_ports(
    capsys: pytest.CaptureFixture[str],
) -> None:
    question = ("-f", str(INPUTS), "--profile", str(BASELINE))
    body: dict[str, Any] = json.loads(matrix(capsys, *question, "-o", "json"))
    svg = matrix(capsys, *question, "-o", "svg")
    shown = edges(svg)
    nodes = {
        group.get("data-name", ""): (group.findtext(f"{SVG}title") or "").split(", ")
        for group in ET.fromstring(svg).iter(f"{SVG}g")
        if "node" in (group.get("class") or "")
    }
    node_of = {pod: name for name, pods in nodes.items() for pod in pods}
    assert set(node_of) >= set(body["pods"])
    assert "shop/frontend" in nodes  # real names, not g1..g6
    for connection in body["connections"]:
        key = (node_of[connection["src"]], node_of[connection["dst"]])
        assert key in shown, key
        assert shown[key] == described(connection["allowed"])
    assert shown[("shop/frontend", "shop/checkout")] == "TCP 8080"
    assert shown[("monitoring/prometheus", "payments/gateway, ledger +1")] == "TCP 9090-9100"
    # Every allowed external range is a node of its own with an edge.
    assert ("ingress-nginx/ingress-nginx-controller", "any address (0.0.0.0/0)") in shown
    # Nothing is drawn between pods that may not talk.
    assert ("shop/checkout", "shop/frontend") not in shown


def test_a_large_cluster_collapses_to_namespaces_and_expands_one(
    capsys: pytest.CaptureFixture[str],
) -> None:
    collapsed = edges(matrix(capsys, "-f", str(RING), "-o", "svg"))
    assert ("team-b/*", "team-a/*") in collapsed  # b's worker reaches a's web
    assert collapsed[("team-b/*", "team-a/*")] == "TCP 8000"
    assert collapsed[("team-a/*", "team-a/*")] == "TCP 5432, 8080"  # within the namespace
    expanded = edges(matrix(capsys, "-f", str(RING), "-o", "svg", "--expand", "team-c"))
    assert expanded[("team-c/web", "team-c/api")] == "TCP 8080"
    assert expanded[("team-d/*", "team-c/web")] == "TCP 8002"
    assert expanded[("team-c/worker", "team-b/*")] == "TCP 8001"
    assert not any(source.startswith("team-c/*") for source, _ in expanded)
    code, out, err = run(capsys, "matrix", "-f", str(RING), "-o", "svg", "--expand", "nope")
    assert (code, out) == (2, "")
    assert "--expand: no pod of namespace nope is shown" in err


def test_the_html_page_carries_an_expanded_view_per_collapsed_namespace_and_no_link(
    capsys: pytest.CaptureFixture[str],
) -> None:
    page = matrix(capsys, "-f", str(RING), "-o", "html")
    assert page.count('<template id="expand-') == 12
    assert page.count("data-expand=") == 12
    # Self-contained: nothing is fetched, from anywhere.
    for reference in ("http://", "https://", " src=", "@import", "url(http", "<link"):
        assert reference not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")


def test_workload_names_drop_pod_suffixes() -> None:
    assert workload_name("frontend", kind="Deployment") == "frontend"
    assert workload_name("web-7d9f8b6c4-x2x9z", kind="") == "web"
    assert workload_name("db-0", kind="") == "db"
    assert workload_name("single", kind="") == "single"


@pytest.mark.parametrize("output", ["svg", "html", "dot"])
def test_hostile_names_are_shown_never_run(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, output: str
) -> None:
    (tmp_path / "hostile.yaml").write_text(HOSTILE)
    out = matrix(capsys, "-f", str(tmp_path), "-o", output)
    if output == "svg":
        assert "<script>window" not in out
        assert "<img" not in out
        tree = ET.fromstring(out)  # well-formed XML: every name escaped
        assert not list(tree.iter(f"{SVG}script"))
        assert HOSTILE_NAMESPACE in "".join(tree.itertext())
    elif output == "html":
        assert "<script>window" not in out
        assert "<img" not in out
        assert "&lt;script&gt;window.pwned=1&lt;/script&gt;" in out
        assert out.count("<script>") == 1  # the page's own
    else:
        # DOT is text: a quoted string is a plain label (never an HTML-like `<...>` one).
        assert 'label="<script>window.pwned=1</script>"' in out
        assert "label=<" not in out


def test_png_without_a_renderer_says_what_to_install(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(shutil, "which", lambda _name: None)
    code, out, err = run(capsys, "matrix", "-f", str(INPUTS), "-o", "png")
    assert (code, out) == (2, "")
    assert "rsvg-convert" in err
    assert "chromium" in err
