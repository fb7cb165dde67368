"""`netiso explain` and `netiso matrix` on files: outputs (goldens), JSON shapes, exit codes,
input handling and the errors a user sees for bad input.

Unit tests of the top layer, run in-process through cli.main(argv). The shop example in
tests/golden/reachability/inputs is the one docs/explain.md walks through. Regenerate goldens
after an intended change with NETISO_UPDATE_GOLDEN=1 and review the diff.
"""

from __future__ import annotations

import ipaddress
import itertools
import json
import os
from pathlib import Path
from typing import Any

import pytest
import yaml
from bench.reachability_inputs import generate

from tests.unit.cli.running import run

REPO = Path(__file__).resolve().parents[3]
GOLDEN = REPO / "tests" / "golden" / "reachability"
INPUTS = GOLDEN / "inputs"
BASELINE = REPO / "manifests" / "samples" / "baseline.yaml"
UPDATE = os.environ.get("NETISO_UPDATE_GOLDEN") == "1"
SHOP = ("-f", str(INPUTS), "--profile", str(BASELINE))

# (golden name, --from, --to, --port, exit status, diagnosis)
EXPLAINED = (
    ("allowed", "shop/frontend", "shop/checkout", "8080", 0, "allowed"),
    ("namespace-label", "shop/checkout", "payments/gateway", "grpc", 1, "namespace label mismatch"),
    ("port", "shop/frontend", "shop/checkout", "9090/TCP", 1, "port or protocol mismatch"),
    ("selector", "payments/reporter", "payments/ledger", "5432", 1, "selector mismatch"),
    ("dns", "shop/frontend", "kube-system/coredns", "53/TCP", 1, "DNS egress missing"),
    (
        "not-isolated",
        "monitoring/prometheus",
        "kube-system/coredns",
        "53/udp",
        0,
        "not isolated at all",
    ),
    (
        "missing-egress",
        "payments/gateway",
        "payments/ledger",
        "pg",
        1,
        "missing egress allow on the source",
    ),
    (
        "missing-ingress",
        "ingress-nginx/ingress-nginx-controller",
        "shop/frontend",
        "8080",
        1,
        "missing ingress allow on the destination",
    ),
    ("external", "shop/frontend", "8.8.8.8", "443", 1, "missing egress allow on the source"),
    (
        "both-selectors",
        "ingress-nginx/ingress-nginx-controller",
        "shop/checkout",
        "http",
        1,
        "selector mismatch",
    ),
)


def check_golden(name: str, text: str) -> None:
    golden = GOLDEN / name
    if UPDATE:
        golden.write_text(text)
    assert golden.exists(), f"{golden} missing: run with NETISO_UPDATE_GOLDEN=1"
    assert text == golden.read_text()


@pytest.mark.parametrize(
    ("name", "source", "destination", "port", "status", "diagnosis"), EXPLAINED
)
def test_explain_prints_the_golden_evidence_and_exit_status(
    capsys: pytest.CaptureFixture[str],
    name: str,
    source: str,
    destination: str,
    port: str,
    status: int,
    diagnosis: str,
) -> None:
    code, out, _ = run(
        capsys, "explain", *SHOP, "--from", source, "--to", destination, "--port", port
    )
    assert code == status
    assert f"diagnosis: {diagnosis}\n" in out
    check_golden(f"explain-{name}.txt", out)
    code, out, _ = run(
        capsys,
        "explain",
        *SHOP,
        "--from",
        source,
        "--to",
        destination,
        "--port",
        port,
        "-o",
        "json",
    )
    body = json.loads(out)
    assert code == status
    assert body["allowed"] is (status == 0)
    assert body["diagnosis"] == diagnosis
    assert {"allowed", "egress", "ingress", "diagnosis"} <= set(body)


@pytest.mark.parametrize("output", ["text", "md", "html", "svg", "dot"])
def test_matrix_human_outputs_match_the_goldens(
    capsys: pytest.CaptureFixture[str], output: str
) -> None:
    code, out, err = run(capsys, "matrix", *SHOP, "-o", output)
    assert code == 0
    assert err.count("skipping") == 1  # the ConfigMap, once
    check_golden(f"matrix.{'txt' if output == 'text' else output}", out)


def matrix_json(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, Any]:
    code, out, _ = run(capsys, "matrix", *argv, "-o", "json")
    assert code == 0
    return json.loads(out)  # type: ignore[no-any-return]


def test_matrix_json_has_exactly_the_documented_shape(capsys: pytest.CaptureFixture[str]) -> None:
    body = matrix_json(capsys, *SHOP)
    assert set(body) == {"pods", "connections", "external"}
    pods = body["pods"]
    assert pods == sorted(pods)
    assert len(set(pods)) == len(pods) == 8
    pairs = set()
    for entry in body["connections"]:
        assert set(entry) == {"src", "dst", "allowed"}
        assert entry["src"] != entry["dst"]
        assert {entry["src"], entry["dst"]} <= set(pods)
        pairs.add((entry["src"], entry["dst"]))
        check_allowed(entry["allowed"])
    assert len(pairs) == len(body["connections"])
    seen: dict[tuple[str, str], list[tuple[int, int]]] = {}
    for entry in body["external"]:
        if "dst_ip_ranges" in entry:
            assert set(entry) == {"src", "dst_ip_ranges", "allowed"}
            key, ranges = (entry["src"], "out"), entry["dst_ip_ranges"]
        else:
            assert set(entry) == {"src_ip_ranges", "dst", "allowed"}
            key, ranges = (entry["dst"], "in"), entry["src_ip_ranges"]
        check_allowed(entry["allowed"])
        for first, last in ranges:
            low, high = int(ipaddress.IPv4Address(first)), int(ipaddress.IPv4Address(last))
            assert low <= high
            seen.setdefault(key, []).append((low, high))
    for intervals in seen.values():  # the entries of one pod and direction do not overlap
        intervals.sort()
        assert all(a[1] < b[0] for a, b in itertools.pairwise(intervals))
    assert {
        "src": "shop/frontend[Deployment]",
        "dst": "shop/checkout[Deployment]",
        "allowed": {"TCP": [[8080, 8080]], "UDP": [], "SCTP": []},
    } in body["connections"]
    assert {
        "src": "shop/frontend[Deployment]",
        "dst": "kube-system/coredns[Deployment]",
        "allowed": {"TCP": [], "UDP": [[53, 53]], "SCTP": []},
    } in body["connections"]
    assert {
        "src": "kube-system/coredns[Deployment]",
        "dst_ip_ranges": [["0.0.0.0", "255.255.255.255"]],
        "allowed": {"all": True},
    } in body["external"]


def check_allowed(allowed: dict[str, Any]) -> None:
    if "all" in allowed:
        assert allowed == {"all": True}
        return
    assert set(allowed) == {"TCP", "UDP", "SCTP"}
    for ranges in allowed.values():
        for low, high in ranges:
            assert 1 <= low <= high <= 65535
        assert all(a[1] + 1 < b[0] for a, b in itertools.pairwise(ranges))  # merged


@pytest.mark.slow
def test_matrix_and_explain_agree_on_every_pair_of_the_example(
    capsys: pytest.CaptureFixture[str],
) -> None:
    body = matrix_json(capsys, *SHOP)
    allowed = {(entry["src"], entry["dst"]): entry["allowed"] for entry in body["connections"]}
    for source in body["pods"]:
        for destination in body["pods"]:
            if source == destination:
                continue
            for port, protocol in ((53, "UDP"), (8080, "TCP"), (9000, "TCP"), (5432, "TCP")):
                entry = allowed.get((source, destination), {"TCP": [], "UDP": [], "SCTP": []})
                expected = entry.get("all", False) or any(
                    low <= port <= high for low, high in entry[protocol]
                )
                code, _, _ = run(
                    capsys,
                    "explain",
                    *SHOP,
                    "--from",
                    source,
                    "--to",
                    destination,
                    "--port",
                    f"{port}/{protocol}",
                )
                assert code == (0 if expected else 1), (source, destination, port, protocol)


def test_filters_narrow_what_the_matrix_shows(capsys: pytest.CaptureFixture[str]) -> None:
    body = matrix_json(capsys, "-f", str(INPUTS), "--namespace", "shop")
    assert body["pods"] == ["shop/checkout[Deployment]", "shop/frontend[Deployment]"]
    assert [(e["src"], e["dst"]) for e in body["connections"]] == [
        ("shop/frontend[Deployment]", "shop/checkout[Deployment]")
    ]
    # With --profile, every namespace whose connections the profile changes is shown too:
    # the ingress controller and Prometheus it admits, the DNS it opens.
    body = matrix_json(capsys, *SHOP, "--namespace", "shop")
    assert body["pods"] == [
        "ingress-nginx/ingress-nginx-controller[DaemonSet]",
        "kube-system/coredns[Deployment]",
        "monitoring/prometheus[StatefulSet]",
        "shop/checkout[Deployment]",
        "shop/frontend[Deployment]",
    ]
    assert ("ingress-nginx/ingress-nginx-controller[DaemonSet]", "shop/checkout[Deployment]") in {
        (e["src"], e["dst"]) for e in body["connections"]
    }
    body = matrix_json(capsys, *SHOP, "--selector", "app in (ledger, reporter)")
    assert body["pods"] == ["payments/ledger[StatefulSet]", "payments/reporter[CronJob]"]
    body = matrix_json(capsys, *SHOP, "-l", "!app,k8s-app=kube-dns")
    assert body["pods"] == ["kube-system/coredns[Deployment]"]


def test_profile_applies_to_a_namespace_named_before_it_opts_in(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`--profile` with `--namespace`: what shop would look like under the baseline."""
    shown = ("--namespace", "shop", "--namespace", "kube-system")
    dns = "kube-system/coredns[Deployment]"
    before = matrix_json(capsys, "-f", str(INPUTS), *shown)
    after = matrix_json(capsys, "-f", str(INPUTS), *shown, "--profile", str(BASELINE))
    # The shop's own DNS policy forgot TCP; the baseline's DNS allow adds it.
    assert {e["src"]: e["allowed"]["TCP"] for e in before["connections"] if e["dst"] == dns} == {
        "shop/checkout[Deployment]": [],
        "shop/frontend[Deployment]": [],
    }
    # (The profile also opens coredns to the ingress controller and Prometheus: shown too.)
    assert {
        e["src"]: e["allowed"]["TCP"]
        for e in after["connections"]
        if e["dst"] == dns and e["src"].startswith("shop/")
    } == {
        "shop/checkout[Deployment]": [[53, 53]],
        "shop/frontend[Deployment]": [[53, 53]],
    }


def write(directory: Path, name: str, *, documents: list[Any]) -> Path:
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump_all(documents))
    return path


POD = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "a", "namespace": "x", "labels": {"app": "a"}},
    "spec": {"containers": [{"name": "c"}]},
}


def test_inputs_directories_json_lists_and_skipped_kinds(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    second = {**POD, "metadata": {"name": "b", "namespace": "y"}}
    write(
        tmp_path,
        "deep/nested/a.yaml",
        documents=[POD, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "s"}}],
    )
    (tmp_path / "b.json").write_text(
        json.dumps({"apiVersion": "v1", "kind": "List", "items": [second]})
    )
    (tmp_path / "notes.txt").write_text("not an input")
    code, out, err = run(capsys, "matrix", "-f", str(tmp_path), "-o", "json")
    assert code == 0
    assert json.loads(out)["pods"] == ["x/a", "y/b"]
    assert (
        err == f"netiso: skipping {tmp_path}/deep/nested/a.yaml#2 (ConfigMap s): "
        "not a kind reachability uses\n"
    )


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (
            {
                "apiVersion": "networking.k8s.io/v1",
                "kind": "NetworkPolicy",
                "metadata": {"name": "p", "namespace": "x"},
                "spec": {"podSelector": {}, "ingress": [{"ports": [{"port": 0}]}]},
            },
            "(NetworkPolicy x/p): spec.ingress[0].ports[0].port: must be 1-65535, got 0",
        ),
        (
            {
                "apiVersion": "networking.k8s.io/v1",
                "kind": "NetworkPolicy",
                "metadata": {"name": "p"},
                "spec": {"podSelector": {"matchExpressions": [{"key": "a", "operator": "Within"}]}},
            },
            "(NetworkPolicy p): spec.podSelector.matchExpressions[0].operator: "
            'must be one of In, NotIn, Exists, DoesNotExist, got "Within"',
        ),
        (
            {
                "apiVersion": "networking.k8s.io/v1",
                "kind": "NetworkPolicy",
                "metadata": {"name": "p"},
                "spec": {
                    "egress": [
                        {"to": [{"ipBlock": {"cidr": "10.0.0.0/8", "except": ["11.0.0.0/8"]}}]}
                    ]
                },
            },
            "spec.egress[0].to[0].ipBlock.except[0]: must be within 10.0.0.0/8",
        ),
        (
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": "d"},
                "spec": {"template": {"metadata": {"labels": ["a"]}}},
            },
            "(Deployment d): spec.template.metadata.labels: must be an object, got array",
        ),
        (
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"namespace": "x"},
                "spec": {"containers": [{"ports": [{"containerPort": "80"}]}]},
            },
            "metadata.name: required; "
            "spec.containers[0].ports[0].containerPort: must be a number 1-65535",
        ),
    ],
)
def test_a_malformed_object_names_the_file_and_the_field(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, document: dict[str, Any], message: str
) -> None:
    path = write(tmp_path, "bad.yaml", documents=[POD, document])
    code, out, err = run(capsys, "matrix", "-f", str(path))
    assert code == 2
    assert out == ""
    assert err.startswith(f"netiso matrix: error: {path}#2 ")
    assert message in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["--from", "x/nobody", "--to", "x/a", "--port", "80"],
            "--from: no pod x/nobody in the input",
        ),
        (
            ["--from", "x/a", "--to", "10.0.0.1", "--port", "http"],
            "--port: the named port http needs a pod as --to",
        ),
        (
            ["--from", "x/a", "--to", "x/a", "--port", "http"],
            "--port: x/a has no container port named http (TCP)",
        ),
        (
            ["--from", "x/a", "--to", "x/a", "--port", "80/ICMP"],
            "--port: protocol must be one of TCP, UDP, SCTP, got ICMP",
        ),
        (["--from", "x/a", "--to", "x/a", "--port", "70000"], "--port: must be 1-65535, got 70000"),
        (
            ["--from", "a", "--to", "x/a", "--port", "80"],
            "--from: no pod default/a in the input",
        ),
    ],
)
def test_explain_bad_questions_exit_two(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, argv: list[str], message: str
) -> None:
    path = write(tmp_path, "pod.yaml", documents=[POD])
    code, out, err = run(capsys, "explain", "-f", str(path), *argv)
    assert code == 2
    assert out == ""
    assert err == f"netiso explain: error: {message}\n"


def test_unreadable_inputs_exit_two(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    (tmp_path / "broken.yaml").write_text("a: [1,\n")
    code, _, err = run(capsys, "matrix", "-f", str(tmp_path / "broken.yaml"))
    assert code == 2
    assert "broken.yaml: invalid YAML:" in err
    code, _, err = run(capsys, "matrix", "-f", str(tmp_path / "missing"))
    assert code == 2
    assert "missing: no such file or directory" in err
    write(tmp_path, "twice/a.yaml", documents=[POD, POD])
    code, _, err = run(capsys, "matrix", "-f", str(tmp_path / "twice"))
    assert code == 2
    assert "x/a is also defined by" in err


def test_an_ip_of_a_known_pod_is_that_pod(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    known = {**POD, "status": {"podIP": "10.2.0.7"}}
    deny = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": "deny", "namespace": "x"},
        "spec": {"podSelector": {}},
    }
    path = write(tmp_path, "pods.yaml", documents=[known, deny])
    code, out, _ = run(
        capsys,
        "explain",
        "-f",
        str(path),
        "--from",
        "10.9.9.9",
        "--to",
        "10.2.0.7",
        "--port",
        "80",
        "-o",
        "json",
    )
    assert code == 1
    body = json.loads(out)
    assert body["to"] == "x/a"
    assert body["from"] == "10.9.9.9"
    assert body["egress"]["governed"] is False


def test_namespaces_that_behave_alike_are_shown_once(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    generate(tmp_path, namespaces=3)
    code, out, _ = run(capsys, "matrix", "-f", str(tmp_path))
    assert code == 0
    assert out.startswith("18 pods, 8 of them shown (one namespace of each alike set) in 8 groups;")
    assert "- team-00000 stands for 3 namespaces that behave alike (team-00001, team-00002)" in out
    assert "team-00001/" not in out
    code, out, _ = run(capsys, "matrix", "-f", str(tmp_path), "-o", "html")
    assert '<p class="note">team-00000 stands for 3 namespaces' in out
    assert len(matrix_json(capsys, "-f", str(tmp_path))["pods"]) == 18  # JSON stays complete


def list_bomb(levels: int) -> str:
    """Lists of lists of one NetworkPolicy: 9**levels policies from a few hundred bytes."""
    text = (
        "apiVersion: v1\nkind: List\nitems:\n- &p0 {apiVersion: networking.k8s.io/v1, "
        "kind: NetworkPolicy, metadata: {name: p, namespace: x}, spec: {podSelector: {}}}\n"
    )
    for level in range(1, levels + 1):
        aliases = ", ".join([f"*p{level - 1}"] * 9)
        text += f"- &p{level} {{kind: List, items: [{aliases}]}}\n"
    return text


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "kind: Pod\nmetadata: {name: a}\nmetadata: {name: b}\n",
            'duplicate key "metadata" at line 3, column 1',
        ),
        ("[" * 200 + "]" * 200, "nests deeper than 100 levels at line 1, column 101"),
        (list_bomb(9), "aliases expand to more than 100000 nodes at line 8, column "),
        ("kind: List\nitems: &a [*a]\n", 'recursive alias "*a" at line 2, column 12'),
        ("kind: List\nitems: [*a]\n", 'undefined alias "*a" at line 2, column 9'),
        ("kind: Pod\nmetadata: !!python/name:os.system x\n", "unsupported tag"),
        ("kind: Pod\nmetadata: !!set {a, b}\n", "unsupported tag"),
        ("kind: Pod\nspec: [1,\n", "invalid YAML: "),
        ("? [a]\n: b\n", "a mapping key must be a string, number, boolean or null at line 1"),
        ("<<: 1\n", "a merge key (<<) takes a mapping or a list of mappings at line 1"),
    ],
)
@pytest.mark.parametrize(
    "command", [["matrix"], ["explain", "--from", "x/a", "--to", "x/a", "--port", "80"]]
)
def test_ambiguous_or_hostile_yaml_is_one_error_line(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    text: str,
    message: str,
    command: list[str],
) -> None:
    path = tmp_path / "input.yaml"
    path.write_text(text)
    code, out, err = run(capsys, command[0], "-f", str(path), *command[1:])
    assert code == 2
    assert out == ""
    assert err.startswith(f"netiso {command[0]}: error: {path}: {message}")
    assert err.count("\n") == 1


def test_shared_yaml_within_the_alias_limit_is_read_as_written(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    policies = list_bomb(3)  # 9**3 = 729 aliased copies of one policy: within the limit
    path = tmp_path / "shared.yaml"
    path.write_text(policies + "---\n" + yaml.safe_dump(POD))
    code, out, _ = run(capsys, "matrix", "-f", str(path), "-o", "json")
    assert code == 0
    assert json.loads(out)["pods"] == ["x/a"]


HOSTILE_NAMES = {
    **POD,
    "metadata": {
        "name": "<script>alert(1)</script>",
        "namespace": "x|y_*[a](b)`\x1b[31m\u202e",
        "labels": {"app": "a"},
    },
}


@pytest.mark.parametrize("output", ["text", "md", "html", "svg", "dot"])
def test_names_print_as_text_in_every_format(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, output: str
) -> None:
    path = write(tmp_path, "names.yaml", documents=[HOSTILE_NAMES])
    code, out, _ = run(capsys, "matrix", "-f", str(path), "-o", output)
    assert code == 0
    assert "\x1b" not in out
    assert "\u202e" not in out
    if output == "text":
        assert "x|y_*[a](b)`\\x1b[31m\\u202e/<script>alert(1)</script>" in out
    elif output == "dot":
        # DOT is text: a quoted label is plain text (an HTML-like label would be `<...>`).
        assert 'label="<script>alert(1)</script>"' in out
        assert "label=<" not in out
    else:
        # The HTML page's own script is the only one.
        assert "<script>alert" not in out
        assert out.count("<script>") == (1 if output == "html" else 0)
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in out
    if output in ("html", "svg"):
        assert "x|y_*[a](b)`\\x1b[31m\\u202e/&lt;script&gt;" in out
    if output == "md":
        assert "| g1 | x\\|y\\_\\*\\[a\\](b)\\`\\\\x1b\\[31m\\\\u202e/&lt;script&gt;" in out
