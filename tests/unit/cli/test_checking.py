"""`netiso check` on the sample GitOps directory, and `netiso admission`: offline, exit codes.

The sample directory (manifests/samples/gitops/) breaks every guardrail once, conforms once
and carries one recorded exception; the lines printed are what a CI log shows.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from netiso.cli.app import main
from netiso.conventions import EXCEPTION_ANNOTATION as EXCEPTION
from netiso.observed.entries import NamespaceEntry, ProfileEntry
from netiso.observed.foreign import ForeignPolicy
from netiso.reconciling.assessments import assess
from netiso.rendering.environment import make_environment
from tests.unit.cli.running import run as run_cli

REPO = Path(__file__).resolve().parents[3]
SAMPLES = REPO / "manifests" / "samples"
GITOPS = SAMPLES / "gitops"
PROFILE = SAMPLES / "guarded.yaml"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, list[str], str]:
    status, out, err = run_cli(capsys, *argv)
    return status, out.splitlines(), err


def test_sample_repository_lists_each_violation_and_fails(
    capsys: pytest.CaptureFixture[str],
) -> None:
    status, lines, err = run(
        capsys, "check", "--profile", str(PROFILE), "-f", str(GITOPS), "--namespace", "team-b"
    )
    assert status == 1
    relative = [line.replace(f"{GITOPS}/", "") for line in lines]
    assert [line.split(": ")[:4] for line in relative] == [
        [
            "team-a/egress.yaml",
            "NetworkPolicy team-a/allow-internet",
            "spec.egress[0].to[0].ipBlock.cidr",
            "broad-cidr",
        ],
        [
            "team-a/egress.yaml",
            "NetworkPolicy team-a/allow-internet",
            "spec.egress[0].to[1].ipBlock.cidr",
            "broad-cidr",
        ],
        [
            "team-a/payments.yaml",
            "NetworkPolicy team-a/allow-payment-provider",
            "spec.egress[0].to[0].ipBlock.cidr",
            "broad-cidr",
        ],
        [
            "team-b/policies.yaml#1",
            "NetworkPolicy team-b/allow-all-ingress",
            "spec.ingress[0].from",
            "no-peers",
        ],
        [
            "team-b/policies.yaml#1",
            "NetworkPolicy team-b/allow-all-ingress",
            "spec.ingress[0].ports",
            "no-ports",
        ],
        [
            "team-b/policies.yaml#1",
            "NetworkPolicy team-b/allow-all-ingress",
            "metadata.annotations[example.com/owner]",
            "required-annotation",
        ],
        [
            "team-b/policies.yaml#2",
            "NetworkPolicy team-b/allow-metrics",
            "spec.ingress[0].from[0].namespaceSelector",
            "all-namespaces",
        ],
        [
            "team-b/policies.yaml#2",
            "NetworkPolicy team-b/allow-metrics",
            "spec.ingress[0].ports[0].port",
            "named-port",
        ],
    ]
    assert relative[2].endswith("[exception: SEC-42 the payment provider publishes no fixed range]")
    assert "7 violation(s), 1 under exception, profile guarded" in err
    assert "netiso.io/exception: <ticket or reason>" in err


def test_conforming_and_excepted_policies_pass(capsys: pytest.CaptureFixture[str]) -> None:
    files = (
        "-f",
        str(GITOPS / "team-a" / "web.yaml"),
        "-f",
        str(GITOPS / "team-a" / "payments.yaml"),
    )
    status, lines, err = run(capsys, "check", "--profile", str(PROFILE), *files)
    assert status == 0
    assert len(lines) == 1
    assert "[exception: SEC-42" in lines[0]
    assert "0 violation(s), 1 under exception" in err


def test_a_repository_without_policies_passes(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    (tmp_path / "app.yml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n")
    (tmp_path / "README.md").write_text("not YAML: [")
    assert run(capsys, "check", "--profile", str(PROFILE), "-f", str(tmp_path))[0] == 0


@pytest.mark.parametrize(
    ("setup", "expected"),
    [
        ("missing", "no such file or directory"),
        ("bad-yaml", "broken.yaml: invalid YAML: did not find expected ',' or ']' at line 2"),
        ("bad-profile", "invalid IsolationProfile: spec.guardrails.action: must be one of"),
        ("two-profiles", "holds 2 documents; expected one profile"),
    ],
)
def test_bad_input_exits_two_with_one_clean_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, setup: str, expected: str
) -> None:
    profile, target = PROFILE, GITOPS
    if setup == "missing":
        target = tmp_path / "absent"
    elif setup == "bad-yaml":
        target = tmp_path / "broken.yaml"
        target.write_text("kind: [NetworkPolicy\n")
    else:
        body = yaml.safe_load(PROFILE.read_text())
        if setup == "bad-profile":
            body["spec"]["guardrails"]["action"] = "Block"
        profile = tmp_path / "profile.yaml"
        profile.write_text(yaml.safe_dump_all([body] * (2 if setup == "two-profiles" else 1)))
    status, lines, err = run(capsys, "check", "--profile", str(profile), "-f", str(target))
    assert status == 2
    assert lines == []
    assert expected in err
    assert "Traceback" not in err


def test_admission_prints_each_binding_and_the_baseline(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["admission", str(PROFILE), str(SAMPLES / "baseline.yaml")]) == 0
    bindings = list(yaml.safe_load_all(capsys.readouterr().out))
    assert [b["metadata"]["name"] for b in bindings] == [
        "netiso-guardrails-guarded",
        "netiso-guardrails-baseline",
        "netiso-guardrails-baseline",
    ]
    assert bindings[0]["spec"]["validationActions"] == ["Deny"]
    excluded = bindings[-1]["spec"]["matchResources"]["namespaceSelector"]["matchExpressions"][1]
    assert excluded["values"] == ["baseline", "guarded"]


@pytest.mark.parametrize(
    ("port", "expected"),
    [
        ({"port": 0}, "spec.ingress[0].ports[0].port: must be 1-65535, got 0"),
        ({"port": 65536}, "spec.ingress[0].ports[0].port: must be 1-65535, got 65536"),
        ({"port": -1}, "spec.ingress[0].ports[0].port: must be 1-65535, got -1"),
        (
            {"port": 100, "endPort": 99},
            "spec.ingress[0].ports[0].endPort: must be at least `port` (100), got 99",
        ),
        (
            {"port": "http", "endPort": 90},
            "spec.ingress[0].ports[0].endPort: may not be specified with a named `port`",
        ),
        (
            {"protocol": "ICMP"},
            'spec.ingress[0].ports[0].protocol: must be one of TCP, UDP, SCTP, got "ICMP"',
        ),
    ],
)
def test_a_policy_the_api_server_refuses_exits_two_naming_object_and_field(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, port: dict[str, object], expected: str
) -> None:
    policy = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": "web", "namespace": "shop"},
        "spec": {"podSelector": {}, "ingress": [{"ports": [port]}]},
    }
    path = tmp_path / "policy.yaml"
    path.write_text(yaml.safe_dump(policy))
    status, lines, err = run(capsys, "check", "--profile", str(PROFILE), "-f", str(path))
    assert status == 2
    assert lines == []
    assert err == f'netiso check: error: {path}: NetworkPolicy "shop/web": invalid: {expected}\n'


def test_spec_as_a_list_is_malformed_too(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: web}\n"
        "spec: [{podSelector: {}}]\n"
    )
    status, _, err = run(capsys, "check", "--profile", str(PROFILE), "-f", str(path))
    assert status == 2
    assert err.endswith('"(default)/web": invalid: spec: must be an object, got array\n')


@pytest.mark.slow
def test_a_valid_twenty_thousand_ip_block_policy_is_checked_not_refused(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    peers = "".join(
        f"    - ipBlock:\n        cidr: 10.{index // 256 % 256}.{index % 256}.0/24\n"
        for index in range(20_000)
    )
    path = tmp_path / "wide.yaml"
    path.write_text(
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
        "metadata: {name: wide, namespace: shop}\n"
        "spec:\n  podSelector: {}\n  policyTypes: [Egress]\n  egress:\n  - to:\n" + peers
    )
    status, _, err = run(capsys, "check", "--profile", str(PROFILE), "-f", str(path))
    assert status in (0, 1), err
    assert "invalid" not in err


def _policy(name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": "team-a"},
        "spec": {"podSelector": {}, **spec},
    }


def _egress(cidr: str) -> dict[str, Any]:
    return {"egress": [{"to": [{"ipBlock": {"cidr": cidr}}], "ports": [{"port": 443}]}]}


def _ingress(peer: dict[str, Any], port: int, end: int) -> dict[str, Any]:
    return {"ingress": [{"from": [peer], "ports": [{"port": port, "endPort": end}]}]}


TEAM_B = {"namespaceSelector": {"matchLabels": {"team": "b"}}}
NOT_NOBODY = {
    "namespaceSelector": {
        "matchExpressions": [
            {"key": "kubernetes.io/metadata.name", "operator": "NotIn", "values": ["nobody"]}
        ]
    }
}
# Each case: policies fine one by one that the operator reports together.
TOGETHER: dict[str, list[dict[str, Any]]] = {
    "broad-cidr": [
        _policy("low", _egress("10.0.0.0/8")),
        _policy("high", _egress("11.0.0.0/8")),
    ],
    "no-ports": [
        _policy("low", _ingress(TEAM_B, 1, 30000)),
        _policy("high", _ingress(TEAM_B, 30001, 65535)),
    ],
    "all-namespaces": [_policy("every", _ingress(NOT_NOBODY, 80, 80))],
}


def _operator_findings(bodies: list[dict[str, Any]]) -> set[tuple[str, str, str]]:
    """(policy, path, rule) of what the operator's assess() reports for the same policies."""
    entry = ProfileEntry.from_body(yaml.safe_load(PROFILE_PLAIN))
    namespace = NamespaceEntry.from_body(
        {"metadata": {"name": "team-a", "labels": {"netiso.io/profile": "plain"}}}
    )
    result = assess(
        name="team-a",
        entry=namespace,
        profile=entry,
        live=[],
        environment=make_environment(),
        protected=frozenset(),
        foreign=[ForeignPolicy.from_body(body) for body in bodies],
        inventory=lambda: [{"kubernetes.io/metadata.name": "team-a"}],
    )
    return {(v.policy, v.path, str(v.rule)) for v in result.weakened}


PROFILE_PLAIN = """
apiVersion: netiso.io/v1alpha1
kind: IsolationProfile
metadata: {name: plain}
spec: {owner: platform, reason: checks, guardrails: {action: Deny}}
"""


@pytest.mark.parametrize("rule", list(TOGETHER))
def test_policies_of_a_namespace_are_judged_together_as_the_operator_judges_them(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, rule: str
) -> None:
    profile = tmp_path / "profile.yaml"
    profile.write_text(PROFILE_PLAIN)
    files = []
    for body in TOGETHER[rule]:
        files += ["-f", str(tmp_path / f"{body['metadata']['name']}.yaml")]
        Path(files[-1]).write_text(yaml.safe_dump(body))
    status, lines, err = run(capsys, "check", "--profile", str(profile), *files)
    assert status == 1
    # file: NetworkPolicy ns/name: path: rule: problem (an exposure path holds ": " too)
    shown = {line.split(": ", 1)[1].rsplit(": ", 1)[0] for line in lines}
    found = _operator_findings(TOGETHER[rule])
    expected = {f"NetworkPolicy team-a/{p}: {path}: {r}" for p, path, r in found}
    assert expected
    assert shown == expected
    assert {found_rule for _, _, found_rule in found} == {rule}
    assert f"{len(expected)} violation(s)" in err


def test_an_excepted_policy_is_left_out_of_the_sum(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    profile = tmp_path / "profile.yaml"
    profile.write_text(PROFILE_PLAIN)
    low, high = TOGETHER["broad-cidr"]
    high = {**high, "metadata": {**high["metadata"], "annotations": {EXCEPTION: "NET-9"}}}
    target = tmp_path / "policies.yaml"
    target.write_text(yaml.safe_dump_all([low, high]))
    status, lines, _ = run(capsys, "check", "--profile", str(profile), "-f", str(target))
    assert (status, lines) == (0, [])


def test_namespace_objects_in_the_input_give_the_labels_selectors_are_judged_on(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    profile = tmp_path / "profile.yaml"
    profile.write_text(PROFILE_PLAIN)
    (body,) = TOGETHER["all-namespaces"]
    target = tmp_path / "policies.yaml"
    nobody = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "nobody"}}
    target.write_text(yaml.safe_dump_all([body, nobody]))
    status, lines, _ = run(capsys, "check", "--profile", str(profile), "-f", str(target))
    # A namespace named nobody exists: the selector leaves it out, so it is not every one.
    assert (status, lines) == (0, [])


@pytest.mark.parametrize(
    ("expires", "status", "shown"),
    [
        (None, 0, "[exception: NET-7 two halves]"),
        ("2999-01-01T00:00:00Z", 0, "[exception: NET-7 two halves]"),
        ("2020-01-01T00:00:00Z", 1, "[exception expired: NET-7 two halves (expired 2020-01"),
    ],
)
def test_exceptions_listed_in_the_profile_count_until_they_expire(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    expires: str | None,
    status: int,
    shown: str,
) -> None:
    entry: dict[str, Any] = {
        "namespace": "team-a",
        "policy": "wide",
        "rules": ["broad-cidr"],
        "reason": "NET-7 two halves",
    }
    if expires:
        entry["expires"] = expires
    body = yaml.safe_load(PROFILE_PLAIN)
    body["spec"]["guardrails"]["exceptions"] = [entry]
    profile = tmp_path / "profile.yaml"
    profile.write_text(yaml.safe_dump(body))
    target = tmp_path / "wide.yaml"
    target.write_text(yaml.safe_dump(_policy("wide", _egress("0.0.0.0/0"))))
    result, lines, _ = run(capsys, "check", "--profile", str(profile), "-f", str(target))
    assert result == status
    (line,) = lines
    assert "NetworkPolicy team-a/wide: spec.egress[0].to[0].ipBlock.cidr: broad-cidr" in line
    assert shown in line
