"""`netiso diff-reach BASE HEAD`: every connection a change of manifests opens or closes, the
policy change that causes it, exposure increases, and the profile's guardrails.

Unit tests of the top layer, in-process through cli.main(argv), on tests/golden/diff-reach: a
pull request that lets shop's frontend call payments' api and the internet on 80 and 443, and
drops the batch job's access to the api.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.unit.cli.running import run

REPO = Path(__file__).resolve().parents[3]
CASE = REPO / "tests" / "golden" / "diff-reach"
BASELINE = REPO / "manifests" / "samples" / "baseline.yaml"


def review(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, Any]]:
    code, out, _ = run(
        capsys, "diff-reach", str(CASE / "base"), str(CASE / "head"), *argv, "-o", "json"
    )
    return code, json.loads(out)


def test_each_opened_and_closed_connection_names_the_policy_change_that_causes_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, body = review(capsys)
    assert code == 0
    assert body["policies"] == {
        "added": ["payments/api-from-shop", "shop/frontend-egress"],
        "removed": ["payments/api-from-batch"],
        "changed": [],
    }
    changes = {(c["change"], c["from"], c["to"]): c for c in body["connections"]}
    assert set(changes) == {
        ("closed", "payments/batch[CronJob]", "payments/api[Deployment]"),
        ("opened", "shop/frontend[Deployment]", "payments/api[Deployment]"),
    }
    closed = changes[("closed", "payments/batch[CronJob]", "payments/api[Deployment]")]
    assert closed["causes"] == [
        {
            "policy": "payments/api-from-batch",
            "state": "removed",
            "why": "payments/api-from-batch ingress rule 0 admitted it and is removed",
        }
    ]
    assert closed["exposure"] == []
    opened = changes[("opened", "shop/frontend[Deployment]", "payments/api[Deployment]")]
    assert opened["after"] == {"TCP": [[8080, 8080]], "UDP": [], "SCTP": []}
    assert [(c["policy"], c["state"]) for c in opened["causes"]] == [
        ("shop/frontend-egress", "added"),
        ("payments/api-from-shop", "added"),
    ]
    assert opened["exposure"] == ["reachable from namespace shop"]


def test_the_internet_and_the_metadata_address_are_called_out(
    capsys: pytest.CaptureFixture[str],
) -> None:
    _, body = review(capsys)
    (external,) = body["external"]
    assert (external["change"], external["from"]) == ("opened", "shop/frontend[Deployment]")
    assert external["exposure"] == [
        "reaches the internet",
        "reaches the metadata address 169.254.169.254",
    ]
    assert "10.0.0.0/8" not in external["after"]["ranges"]
    assert external["after"]["allowed"] == {"TCP": [[80, 80], [443, 443]], "UDP": [], "SCTP": []}
    assert external["causes"][0]["why"] == "shop/frontend-egress egress rule 1 admits it (added)"
    assert body["exposure_increases"] == 2


def test_a_head_that_breaks_the_profiles_guardrails_exits_one(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, body = review(capsys, "--profile", str(BASELINE))
    assert code == 1
    rules = {(v["policy"], v["rule"], v["new"]) for v in body["guardrails"]["violations"]}
    assert ("shop/frontend-egress", "broad-cidr", True) in rules
    assert body["guardrails"]["profile"] == "baseline"


def test_exposure_fails_the_review_only_when_asked(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, _ = run(
        capsys, "diff-reach", str(CASE / "base"), str(CASE / "head"), "--fail-on-exposure"
    )
    assert code == 1
    code, out, _ = run(
        capsys, "diff-reach", str(CASE / "base"), str(CASE / "base"), "--fail-on-exposure"
    )
    assert code == 0
    assert "no connection changes" in out


def test_the_text_reads_as_a_review(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "diff-reach", str(CASE / "base"), str(CASE / "head"))
    assert code == 0
    lines = out.splitlines()
    assert lines[0].endswith(
        ": 2 opened, 1 closed, 0 widened, 0 narrowed, 0 changed; 2 exposure increase(s)"
    )
    assert (
        "+ opened shop/frontend[Deployment] -> payments/api[Deployment]: TCP 8080 (was none)"
        in lines
    )
    assert "    EXPOSURE: reachable from namespace shop" in lines
    assert "    because payments/api-from-shop ingress rule 0 admits it (added)" in lines


def test_a_changed_label_is_a_cause_too(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    head = tmp_path / "head"
    shutil.copytree(CASE / "base", head)
    apps = head / "apps.yaml"
    # Relabelling the batch job (no policy changes) closes its access to the api.
    apps.write_text(apps.read_text().replace("labels: {app: batch}", "labels: {app: batch2}"))
    code, out, _ = run(capsys, "diff-reach", str(CASE / "base"), str(head), "-o", "json")
    assert code == 0
    (closed,) = json.loads(out)["connections"]
    assert closed["causes"] == [
        {
            "policy": "payments/api-from-batch",
            "state": "unchanged",
            "why": "payments/api-from-batch ingress rule 0 admitted it and no longer matches "
            "(labels changed)",
        }
    ]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["nowhere", "alsonowhere"], "nowhere: no such file or directory"),
        (
            ["BASE", "HEAD", "--profile", "nowhere.yaml"],
            "nowhere.yaml: cannot read: No such file or directory",
        ),
    ],
)
def test_bad_input_is_one_line_and_exit_two(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    argv = [
        str(CASE / "base") if a == "BASE" else str(CASE / "head") if a == "HEAD" else a
        for a in argv
    ]
    code, out, err = run(capsys, "diff-reach", *argv)
    assert (code, out) == (2, "")
    assert err == f"netiso diff-reach: error: {message}\n"


def test_the_ipv6_metadata_address_is_called_out(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    head = tmp_path / "head"
    shutil.copytree(CASE / "base", head)
    (head / "v6.yaml").write_text(
        "apiVersion: networking.k8s.io/v1\n"
        "kind: NetworkPolicy\n"
        "metadata: {name: v6-out, namespace: shop}\n"
        "spec:\n"
        "  podSelector: {matchLabels: {app: frontend}}\n"
        "  policyTypes: [Egress]\n"
        "  egress: [{to: [{ipBlock: {cidr: 'fd00::/8'}}]}]\n"
    )
    code, out, _ = run(capsys, "diff-reach", str(CASE / "base"), str(head), "-o", "json")
    assert code == 0
    (external,) = json.loads(out)["external"]
    assert (external["from"], external["to"]) == ("shop/frontend[Deployment]", "fd00:ec2::254")
    assert external["exposure"] == ["reaches the metadata address fd00:ec2::254"]
    assert external["causes"][0]["why"] == "shop/v6-out egress rule 0 admits it (added)"
