"""kubectl's output conventions on the listing commands: `-o name`, `-o json|yaml` as a
Kubernetes List, `-o jsonpath=...`, `--no-headers`, and a reader that leaves the pipe early.

Unit tests of cli.printing, .live (status and diff on a hand-built snapshot in place of the
cluster's) and .matrices/.explaining on the golden input files. The real cluster and a real
`| head -1` are tests/integration/test_cli_listing.py.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from netiso.cli import live
from netiso.cli.app import main
from netiso.cli.exits import Exit
from netiso.cli.printing import listing, table
from netiso.runtime.client import Credentials
from tests.unit.cli.running import run
from tests.unit.cli.test_inspection import snapshot

REPO = Path(__file__).resolve().parents[3]
INPUTS = REPO / "tests" / "golden" / "reachability" / "inputs"
BASELINE = REPO / "manifests" / "samples" / "baseline.yaml"
MATRIX = ("matrix", "-f", str(INPUTS), "--profile", str(BASELINE))


@pytest.fixture
def cluster(monkeypatch: pytest.MonkeyPatch) -> None:
    """status and diff read the snapshot of test_inspection instead of a cluster."""

    async def read(*_: Any, **__: Any) -> Any:
        return snapshot()

    monkeypatch.setattr(live, "read_snapshot", read)
    monkeypatch.setattr(live, "load_credentials", lambda *_, **__: Credentials(server="https://k"))


@pytest.mark.usefixtures("cluster")
def test_status_speaks_kubectls_formats(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "status", "-o", "json")
    body = json.loads(out)
    assert (code, body["apiVersion"], body["kind"]) == (0, "v1", "List")
    assert [item["namespace"] for item in body["items"]] == ["clean", "open", "waived"]
    assert yaml.safe_load(run(capsys, "status", "-o", "yaml")[1]) == body
    assert run(capsys, "status", "-o", "name")[1] == (
        "namespace/clean\nnamespace/open\nnamespace/waived\n"
    )
    template = '{range .items[?(@.state=="drifted")]}{.namespace}{"\\n"}{end}'
    assert run(capsys, "status", "-o", f"jsonpath={template}")[1] == "open\n"
    table_out = run(capsys, "status")[1].splitlines()
    bare = run(capsys, "status", "--no-headers")[1].splitlines()
    assert table_out[0].startswith("NAMESPACE")
    assert table_out[-1].startswith("3 namespaces:")
    assert [row.split() for row in bare] == [row.split() for row in table_out[1:-1]]
    wide = run(capsys, "status", "-o", "wide", "--no-headers")[1].splitlines()
    assert [row.split()[0] for row in wide] == ["clean", "open", "waived"]


@pytest.mark.usefixtures("cluster")
def test_diff_lists_its_reports_as_a_list(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "diff", "-A", "-o", "json")
    body = json.loads(out)
    assert (code, body["kind"]) == (1, "List")
    assert [item["namespace"] for item in body["items"]] == ["clean", "open", "waived"]
    assert run(capsys, "diff", "-A", "-o", "name")[1].split() == [
        "namespace/clean",
        "namespace/open",
        "namespace/waived",
    ]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("status", "-o", "jsonpath"), "invalid format 'jsonpath'"),
        (("status", "-o", "jsonpath="), "jsonpath= needs a template"),
        (("status", "-o", "names"), "invalid format 'names'"),
        (("explain", "-o", "name"), "invalid format 'name'"),
    ],
)
def test_an_unknown_format_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], argv: tuple[str, ...], message: str
) -> None:
    code, out, err = run(capsys, *argv)
    assert (code, out) == (2, "")
    assert message in err


def test_matrix_names_pods_lists_connections_and_takes_jsonpath(
    capsys: pytest.CaptureFixture[str],
) -> None:
    body = json.loads(run(capsys, *MATRIX, "-o", "json")[1])
    names = run(capsys, *MATRIX, "-o", "name")[1].splitlines()
    assert names == [f"pod/{pod}" for pod in body["pods"]]
    wide = run(capsys, *MATRIX, "-o", "wide")[1].splitlines()
    assert wide[0].split() == ["FROM", "TO", "ALLOWED"]
    internal = [row for row in wide[1:] if row.split()[0] in body["pods"]]
    pairs = {(c["src"], c["dst"]) for c in body["connections"]}
    assert {tuple(row.split()[:2]) for row in internal} >= pairs
    assert run(capsys, *MATRIX, "-o", "wide", "--no-headers")[1].splitlines() == wide[1:]
    assert yaml.safe_load(run(capsys, *MATRIX, "-o", "yaml")[1]) == body
    assert run(capsys, *MATRIX, "-o", "jsonpath={.pods[0]}")[1] == body["pods"][0]


def test_explain_takes_jsonpath_and_keeps_its_exit_status(
    capsys: pytest.CaptureFixture[str],
) -> None:
    question = ("-f", str(INPUTS), "--profile", str(BASELINE), "--from", "shop/frontend")
    allowed = run(
        capsys,
        "explain",
        *question,
        "--to",
        "shop/checkout",
        "--port",
        "8080",
        "-o",
        "jsonpath={.allowed}",
    )
    assert allowed[:2] == (0, "true")
    denied = run(
        capsys, "explain", *question, "--to", "shop/checkout", "--port", "9090", "-o", "yaml"
    )
    assert (denied[0], yaml.safe_load(denied[1])["allowed"]) == (1, False)


def test_tables_without_headers_size_columns_by_the_rows() -> None:
    assert table(["NAMESPACE", "X"], [["a", "1"], ["bb", "2"]], headers=False) == "a    1\nbb   2"
    assert table(["NAMESPACE"], [], headers=False) == ""
    assert listing([1]) == {"apiVersion": "v1", "kind": "List", "items": [1]}


@pytest.mark.usefixtures("cluster")
@pytest.mark.parametrize(
    "argv",
    [("status", "-o", "name"), (*MATRIX, "-o", "name")],
    ids=["status", "matrix"],
)
def test_a_reader_gone_from_the_pipe_ends_the_command_quietly(
    capsys: pytest.CaptureFixture[str], argv: tuple[str, ...]
) -> None:
    # Few runs: each is a whole command; tests/integration/test_cli_listing.py pipes into a real
    # `head -1` many times.
    for _ in range(3):
        # A real pipe whose reader has already gone: every write meets EPIPE.
        reader, writer = os.pipe()
        os.close(reader)
        with os.fdopen(writer, "w") as stream:
            sys.stdout = stream
            try:
                code = main(list(argv))
            finally:
                sys.stdout = sys.__stdout__
        assert code == Exit.CLOSED_PIPE
        err = capsys.readouterr().err
        assert "Traceback" not in err
        assert "Broken pipe" not in err
        assert "error" not in err
