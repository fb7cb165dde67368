"""`netiso exposure`: the audit docs/exposure.md walks through (the SSRF scenario in
tests/golden/exposure), its JSON shape, --fail-on-metadata and its errors.

Unit tests of the top layer, in-process through cli.main(argv).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.unit.cli.running import run

REPO = Path(__file__).resolve().parents[3]
CASE = REPO / "tests" / "golden" / "exposure"
TCP_80_443 = {"TCP": [[80, 80], [443, 443]], "UDP": [], "SCTP": []}


def audit(capsys: pytest.CaptureFixture[str], version: str, *argv: str) -> tuple[int, Any]:
    code, out, _ = run(capsys, "exposure", "-f", str(CASE / version), *argv, "-o", "json")
    return code, json.loads(out)


def workloads(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {w["pod"]: w for ns in body["namespaces"] for w in ns["workloads"]}


def test_the_ssrf_pod_reaches_the_metadata_address_before_the_fix_and_not_after(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, before = audit(capsys, "before", "-n", "web", "--fail-on-metadata")
    assert code == 1
    storefront = workloads(before)["web/storefront[Deployment]"]
    assert storefront["metadata"] == {"169.254.169.254": TCP_80_443, "fd00:ec2::254": False}
    assert storefront["internet"] == TCP_80_443
    assert workloads(before)["web/checkout[Deployment]"]["metadata"]["169.254.169.254"] is None
    code, after = audit(capsys, "after", "-n", "web", "--fail-on-metadata")
    assert code == 0
    fixed = workloads(after)["web/storefront[Deployment]"]
    assert fixed["metadata"] == {"169.254.169.254": None, "fd00:ec2::254": False}
    assert fixed["internet"] == TCP_80_443


def test_other_namespaces_are_named_with_their_pods_and_ports(
    capsys: pytest.CaptureFixture[str],
) -> None:
    _, body = audit(capsys, "before")
    assert [ns["namespace"] for ns in body["namespaces"]] == ["ingress-nginx", "payments", "web"]
    ledger = workloads(body)["payments/ledger[StatefulSet]"]
    # The ledger admits all of `web`, but only checkout's egress lets it connect.
    assert ledger["from_namespaces"] == [
        {
            "namespace": "web",
            "pods": ["web/checkout[Deployment]"],
            "allowed": {"TCP": [[5432, 5432]], "UDP": [], "SCTP": []},
        }
    ]
    assert ledger["from_outside"] == []
    controller = workloads(body)["ingress-nginx/controller[DaemonSet]"]
    assert controller["ingress_isolated"] is False
    assert controller["from_outside"] == [
        {"ranges": ["0.0.0.0/0"], "internet": True, "allowed": {"all": True}}
    ]


def test_lateral_paths_follow_the_shortest_route(capsys: pytest.CaptureFixture[str]) -> None:
    _, body = audit(capsys, "before", "-n", "web", "--from", "web/deploy/storefront")
    assert body["lateral"] == {
        "from": ["web/storefront[Deployment]"],
        "reachable": [
            {
                "pod": "web/checkout[Deployment]",
                "hops": 1,
                "via": ["web/storefront[Deployment]"],
                "allowed": {"TCP": [[8080, 8080]], "UDP": [], "SCTP": []},
            },
            {
                "pod": "payments/ledger[StatefulSet]",
                "hops": 2,
                "via": ["web/storefront[Deployment]", "web/checkout[Deployment]"],
                "allowed": {"TCP": [[5432, 5432]], "UDP": [], "SCTP": []},
            },
        ],
    }
    _, short = audit(capsys, "before", "--from", "web/deploy/storefront", "--max-hops", "1")
    assert [hop["pod"] for hop in short["lateral"]["reachable"]] == ["web/checkout[Deployment]"]


def test_the_text_calls_out_the_metadata_address(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "exposure", "-f", str(CASE / "before"), "-n", "web")
    assert code == 0
    assert "    REACHES THE METADATA ADDRESS 169.254.169.254: TCP 80, 443" in out.splitlines()
    assert "1 workload(s) reach the cloud metadata address: web/storefront[Deployment]" in out


def test_the_ipv6_metadata_address_counts_too(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    (tmp_path / "all.yaml").write_text(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: x}\n"
        "spec: {containers: [{name: c}]}\n---\n"
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
        "metadata: {name: v6, namespace: x}\n"
        "spec: {podSelector: {}, policyTypes: [Egress],"
        " egress: [{to: [{ipBlock: {cidr: '::/0'}}]}]}\n"
    )
    code, out, _ = run(capsys, "exposure", "-f", str(tmp_path), "-o", "json", "--fail-on-metadata")
    assert code == 1
    (workload,) = json.loads(out)["namespaces"][0]["workloads"]
    assert workload["metadata"] == {"169.254.169.254": None, "fd00:ec2::254": True}


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--from", "10.0.0.1"], "--from: 10.0.0.1 is an address; name a workload or a pod"),
        (["--from", "deploy/nope"], "--from: no Deployment default/nope in the input"),
        (["--max-hops", "0"], "--max-hops: must be 1-32, got 0"),
        (["-n", "Web"], "--namespace: must be a DNS-1123 label"),
    ],
)
def test_bad_input_is_one_line_and_exit_two(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    code, out, err = run(capsys, "exposure", "-f", str(CASE / "before"), *argv)
    assert (code, out) == (2, "")
    assert err.startswith(f"netiso exposure: error: {message}")
    assert len(err.splitlines()) == 1
