"""The netiso command: render and validate, their output formats, exit codes and error lines.

Unit tests of the top layer (netiso.cli.app), run in-process through main(argv) plus one subprocess.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from netiso.cli import app as cli
from netiso.cli.exits import UsageError
from netiso.rendering.environment import shipped_templates_dir
from tests.unit.cli.running import run

REPO = Path(__file__).resolve().parents[3]
SAMPLES = REPO / "manifests" / "samples"
BASELINE = SAMPLES / "baseline.yaml"


def write(directory: Path, *, name: str, content: Any) -> Path:
    path = directory / name
    path.write_text(content if isinstance(content, str) else yaml.safe_dump(content))
    return path


def profile(name: str = "p", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "netiso.io/v1alpha1",
        "kind": "IsolationProfile",
        "metadata": {"name": name},
        "spec": spec,
    }


# --- render ---------------------------------------------------------------------------------


def test_render_baseline_prints_four_policies_allows_first(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = run(capsys, "render", "--profile", str(BASELINE), "--namespace", "team-a")
    assert (code, err) == (0, "")
    documents = list(yaml.safe_load_all(out))
    assert [doc["metadata"]["name"] for doc in documents] == [
        "netiso-allow-dns-egress",
        "netiso-allow-gateway-ingress",
        "netiso-allow-monitoring-scrape",
        "netiso-default-deny",
    ]
    for doc in documents:
        assert doc["apiVersion"] == "networking.k8s.io/v1"
        assert doc["kind"] == "NetworkPolicy"
        assert doc["metadata"]["namespace"] == "team-a"
        assert doc["metadata"]["labels"]["netiso.io/profile"] == "baseline"
        assert doc["metadata"]["annotations"]["netiso.io/owner"] == "platform-team"
        assert len(doc["metadata"]["annotations"]["netiso.io/spec-hash"]) == 16
    assert documents[-1]["spec"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    gateway_peer = documents[1]["spec"]["ingress"][0]["from"]
    assert gateway_peer == [
        {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}},
            "podSelector": {
                "matchLabels": {
                    "app.kubernetes.io/component": "controller",
                    "app.kubernetes.io/name": "ingress-nginx",
                }
            },
        }
    ]
    assert out.startswith("---\napiVersion: networking.k8s.io/v1\n")


def test_render_matches_the_baseline_golden_file(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "render", "--profile", str(BASELINE), "--namespace", "team-a")
    assert code == 0
    assert out == (REPO / "tests" / "golden" / "baseline.yaml").read_text()


def test_render_json_prints_a_kubernetes_list(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys, "render", "--profile", str(BASELINE), "--namespace", "team-a", "--output", "json"
    )
    assert code == 0
    listing = json.loads(out)
    assert (listing["apiVersion"], listing["kind"]) == ("v1", "List")
    assert [item["metadata"]["labels"]["netiso.io/policy"] for item in listing["items"]] == [
        "allow-dns-egress",
        "allow-gateway-ingress",
        "allow-monitoring-scrape",
        "default-deny",
    ]


def test_render_ingress_only_sample_denies_only_ingress(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys, "render", "--profile", str(SAMPLES / "ingress-only.yaml"), "--namespace", "team-a"
    )
    assert code == 0
    documents = list(yaml.safe_load_all(out))
    assert [doc["metadata"]["labels"]["netiso.io/policy"] for doc in documents] == [
        "allow-gateway-ingress",
        "default-deny",
    ]
    assert documents[-1]["spec"]["policyTypes"] == ["Ingress"]


def test_render_prints_warnings_on_stderr_and_still_renders(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, name="p.yaml", content=profile(dns={"enabled": False}))
    code, out, err = run(capsys, "render", "--profile", str(path), "--namespace", "team-a")
    assert code == 0
    assert err.splitlines() == [
        f"{path}: warning: spec.dns.enabled: egress is denied and DNS is disabled: pods cannot "
        "resolve names",
        f"{path}: warning: spec: every allow is disabled: the namespace is fully isolated",
    ]
    assert len(list(yaml.safe_load_all(out))) == 1


def test_render_says_the_api_server_allow_has_no_endpoints_offline(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    access = {"enabled": True, "podSelector": {"matchLabels": {"app": "ctl"}}}
    path = write(tmp_path, name="p.yaml", content=profile(apiServer=access))
    code, out, err = run(capsys, "render", "--profile", str(path), "--namespace", "team-a")
    assert code == 0
    assert err == (
        f"{path}: note: netiso-allow-apiserver-egress is rendered without the API server's "
        "endpoints (offline) and admits nothing here; the operator fills in the addresses of "
        "the default/kubernetes EndpointSlices\n"
    )
    allow = [
        doc
        for doc in yaml.safe_load_all(out)
        if doc["metadata"]["name"].endswith("apiserver-egress")
    ]
    assert [doc["spec"] for doc in allow] == [
        {"podSelector": {"matchLabels": {"app": "ctl"}}, "policyTypes": ["Egress"]}
    ]


def test_render_reads_the_profile_from_stdin(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdin", __import__("io").StringIO(BASELINE.read_text()))
    code, out, _ = run(capsys, "render", "--profile", "-", "--namespace", "team-a")
    assert code == 0
    assert len(list(yaml.safe_load_all(out))) == 4


def test_render_with_custom_templates(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for template in shipped_templates_dir().glob("*.yaml.j2"):
        (tmp_path / template.name).write_text(template.read_text())
    (tmp_path / "default-deny.yaml.j2").write_text(
        "podSelector: {matchLabels: {isolated: 'yes'}}\npolicyTypes: [Ingress, Egress]\n"
    )
    code, out, _ = run(
        capsys,
        "render",
        "--profile",
        str(BASELINE),
        "--namespace",
        "team-a",
        "--templates",
        str(tmp_path),
    )
    assert code == 0
    deny = list(yaml.safe_load_all(out))[-1]
    assert deny["spec"]["podSelector"] == {"matchLabels": {"isolated": "yes"}}


RENDER_FAILURES = [
    (
        "invalid profile",
        "p.yaml",
        profile(dns={"ports": [{"port": 53}, {"port": 0}]}),
        [],
        1,
        ["{path}: spec.dns.ports[1].port: must be 1..65535, got 0"],
    ),
    (
        "broken yaml",
        "p.yaml",
        "spec: [unclosed\n",
        [],
        1,
        ["{path}: invalid YAML: did not find expected ',' or ']' at line 2, column 1"],
    ),
    (
        "several documents",
        "p.yaml",
        yaml.safe_dump(profile("a")) + "---\n" + yaml.safe_dump(profile("b")),
        [],
        1,
        ["{path}: holds 2 documents; render takes one profile"],
    ),
    (
        "bad namespace",
        "p.yaml",
        profile(),
        ["--namespace", "Team_A"],
        2,
        [
            "netiso render: error: --namespace: must be a DNS-1123 label (at most 63 lowercase "
            "alphanumerics or '-', starting and ending with an alphanumeric), got \"Team_A\""
        ],
    ),
    (
        "bad label",
        "p.yaml",
        profile(),
        ["--label", "novalue"],
        2,
        ['netiso render: error: --label: expected KEY=VALUE, got "novalue"'],
    ),
    (
        "bad label key",
        "p.yaml",
        profile(),
        ["--label", "a b=c"],
        2,
        [
            'netiso render: error: --label: invalid label key "a b": name part must consist '
            "of alphanumerics, '-', '_' or '.', starting and ending with an alphanumeric"
        ],
    ),
    (
        "templates dir missing",
        "p.yaml",
        profile(),
        ["--templates", "/nonexistent/templates"],
        2,
        ["netiso render: error: --templates: /nonexistent/templates is not a directory"],
    ),
]


@pytest.mark.parametrize(
    ("name", "content", "extra", "code", "expected"),
    [case[1:] for case in RENDER_FAILURES],
    ids=[case[0] for case in RENDER_FAILURES],
)
def test_render_fails_cleanly_on_bad_input(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    name: str,
    content: Any,
    extra: list[str],
    code: int,
    expected: list[str],
) -> None:
    path = write(tmp_path, name=name, content=content)
    argv = ["render", "--profile", str(path), "--namespace", "team-a", *extra]
    if "--namespace" in extra:
        argv = ["render", "--profile", str(path), *extra]
    status, out, err = run(capsys, *argv)
    assert status == code
    assert out == ""
    assert err.splitlines() == [line.format(path=path) for line in expected]


def test_render_of_a_missing_file_is_one_clean_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "missing.yaml"
    code, out, err = run(capsys, "render", "--profile", str(missing), "--namespace", "team-a")
    assert (code, out) == (1, "")
    assert err == f"{missing}: cannot read: No such file or directory\n"


def test_render_with_a_broken_template_names_the_template(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    templates = tmp_path / "templates"
    templates.mkdir()
    for template in shipped_templates_dir().glob("*.yaml.j2"):
        (templates / template.name).write_text(template.read_text())
    (templates / "allow-dns-egress.yaml.j2").write_text("podSelector: {{ dns_pods | tojson }}\n")
    code, out, err = run(
        capsys,
        "render",
        "--profile",
        str(BASELINE),
        "--namespace",
        "team-a",
        "--templates",
        str(templates),
    )
    assert (code, out) == (1, "")
    assert err == (
        f"{BASELINE}: allow-dns-egress.yaml.j2: undefined variable: 'dns_pods' is undefined\n"
    )


# --- validate -------------------------------------------------------------------------------


def test_validate_samples_exits_zero(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "validate", str(BASELINE), str(SAMPLES / "ingress-only.yaml"))
    assert (code, out) == (0, "")
    assert err == "2 document(s) valid\n"


def test_validate_prints_one_line_per_problem_and_exits_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = write(
        tmp_path,
        name="bad.yaml",
        content=profile(dns={"ports": [{"protocol": "UDP", "port": 53}, {"port": 0}], "foo": 1}),
    )
    code, out, err = run(capsys, "validate", str(BASELINE), str(bad))
    assert code == 1
    assert out.splitlines() == [
        f"{bad}: spec.dns.foo: unknown field",
        f"{bad}: spec.dns.ports[1].port: must be 1..65535, got 0",
    ]
    assert err == "1 of 2 document(s) invalid\n"


def test_validate_prints_warnings_but_exits_zero(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(
        tmp_path,
        name="quiet.yaml",
        content=profile(defaultDeny={"ingress": False, "egress": False}),
    )
    code, out, _ = run(capsys, "validate", str(path))
    assert code == 0
    assert out == (
        f"{path}: warning: spec.defaultDeny: neither ingress nor egress is denied: "
        "netiso creates no policies\n"
    )


def test_validate_names_the_document_in_multi_document_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(
        tmp_path,
        name="many.yaml",
        content=yaml.safe_dump(profile("a")) + "---\n" + yaml.safe_dump(profile("b", mode="Later")),
    )
    code, out, _ = run(capsys, "validate", str(path))
    assert code == 1
    assert out == f'{path}#2: spec.mode: must be one of Enforce, DryRun, got "Later"\n'


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (
            "a: [1\n",
            "{path}: invalid YAML: did not find expected ',' or ']' at line 2, column 1",
        ),
        ("", "{path}: no YAML document found"),
        ("- 1\n- 2\n", "{path}: must be an IsolationProfile object, got array"),
        (
            "apiVersion: netiso.io/v1alpha1\nkind: IsolationProfil\nmetadata: {name: x}\n",
            '{path}: kind: must be IsolationProfile, got "IsolationProfil"',
        ),
        ("a: 1\nb: 2\na: 3\n", '{path}: duplicate key "a" at line 3, column 1 (first at line 1)'),
    ],
    ids=["broken yaml", "empty file", "not an object", "misspelt kind", "duplicate key"],
)
def test_validate_reports_unusable_files_as_problems(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, expected: str
) -> None:
    path = write(tmp_path, name="f.yaml", content=content)
    code, out, _ = run(capsys, "validate", str(path))
    assert code == 1
    assert out.splitlines()[0] == expected.format(path=path)


def test_validate_reports_unreadable_files_and_goes_on(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "missing.yaml"
    code, out, err = run(capsys, "validate", str(missing), str(BASELINE))
    assert code == 1
    assert out.splitlines() == [f"{missing}: cannot read: No such file or directory"]
    assert err == "1 of 2 document(s) invalid\n"


def test_validate_reads_a_directory_and_skips_other_kinds_with_one_line_each(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(tmp_path, name="a.yaml", content=profile("a"))
    write(
        tmp_path,
        name="kustomization.yaml",
        content="apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
        "resources: [a.yaml, b.json]\n",
    )
    write(
        tmp_path,
        name="b.json",
        content=json.dumps([profile("b")][0]) + "\n",
    )
    write(tmp_path, name="notes.txt", content="not a manifest")
    (tmp_path / "nested").mkdir()
    write(tmp_path / "nested", name="c.yaml", content="{")
    code, out, err = run(capsys, "validate", str(tmp_path))
    assert (code, out) == (0, "")
    assert err.splitlines() == [
        f'{tmp_path / "kustomization.yaml"}: skipped: "Kustomization" '
        '("kustomize.config.k8s.io/v1beta1") is not an IsolationProfile',
        "2 document(s) valid",
    ]


def test_validate_of_only_other_kinds_finds_no_profile_and_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, name="cm.yaml", content="apiVersion: v1\nkind: ConfigMap\n")
    code, out, err = run(capsys, "validate", str(path))
    assert (code, out) == (1, "")
    assert err.splitlines() == [
        f'{path}: skipped: "ConfigMap" ("v1") is not an IsolationProfile',
        "no IsolationProfile found",
    ]


def test_validate_catches_a_template_that_does_not_render(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for template in shipped_templates_dir().glob("*.yaml.j2"):
        (tmp_path / template.name).write_text(template.read_text())
    (tmp_path / "default-deny.yaml.j2").write_text("podSelector: {}\npolicyTypes: [Ingress\n")
    code, out, _ = run(capsys, "validate", str(BASELINE), "--templates", str(tmp_path))
    assert code == 1
    assert out == (
        f"{BASELINE}: default-deny.yaml.j2: rendered invalid YAML: expected ',' or ']', but got "
        "'<stream end>' at line 3, column 1\n"
    )


def test_validate_json_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = write(tmp_path, name="bad.yaml", content=profile(gateway={"enabled": True}))
    code, out, _ = run(capsys, "validate", str(BASELINE), str(bad), "--output", "json")
    assert code == 1
    assert json.loads(out) == {
        "valid": False,
        "documents": [
            {"file": str(BASELINE), "valid": True, "problems": [], "warnings": []},
            {
                "file": str(bad),
                "valid": False,
                "problems": [
                    {
                        "path": "spec.gateway.namespaces",
                        "message": "must not be empty when gateway is enabled",
                    },
                    {
                        "path": "spec.gateway.ports",
                        "message": "must not be empty when gateway is enabled",
                    },
                ],
                "warnings": [],
            },
        ],
    }


def exception(policy: str, expires: str | None = None) -> dict[str, Any]:
    entry = {"namespace": "team-a", "policy": policy, "rules": ["no-ports"], "reason": "OPS-1"}
    return entry if expires is None else {**entry, "expires": expires}


def test_validate_warns_of_each_expired_exception_and_exits_zero(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    entries = [
        exception("legacy", "2020-01-01T00:00:00+02:00"),
        exception("pending", "2999-01-01T00:00:00Z"),
        exception("open-ended"),
        exception("old", "2021-06-30T12:00:00Z"),
    ]
    path = write(tmp_path, name="p.yaml", content=profile(guardrails={"exceptions": entries}))
    code, out, err = run(capsys, "validate", str(path))
    # Expired is not invalid: the same exit status as any other warning.
    assert code == 0
    assert err == "1 document(s) valid\n"
    assert out.splitlines() == [
        f"{path}: warning: spec.guardrails.exceptions[0].expires: the exception for "
        "team-a/legacy expired 2019-12-31T22:00:00Z: the operator and netiso check no longer "
        "honour it, admission still does until the entry is removed",
        f"{path}: warning: spec.guardrails.exceptions[3].expires: the exception for "
        "team-a/old expired 2021-06-30T12:00:00Z: the operator and netiso check no longer "
        "honour it, admission still does until the entry is removed",
    ]
    code, out, _ = run(capsys, "validate", str(path), "-o", "json")
    assert code == 0
    (document,) = json.loads(out)["documents"]
    assert document["valid"] is True
    assert [warning["path"] for warning in document["warnings"]] == [
        "spec.guardrails.exceptions[0].expires",
        "spec.guardrails.exceptions[3].expires",
    ]


def test_validate_is_silent_on_exceptions_that_have_not_expired(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    entries = [exception("pending", "2999-01-01T00:00:00Z"), exception("open-ended")]
    path = write(tmp_path, name="p.yaml", content=profile(guardrails={"exceptions": entries}))
    assert run(capsys, "validate", str(path)) == (0, "", "1 document(s) valid\n")


def test_render_warns_of_an_expired_exception_too(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    entries = [exception("legacy", "2020-01-01T00:00:00Z")]
    path = write(tmp_path, name="p.yaml", content=profile(guardrails={"exceptions": entries}))
    code, out, err = run(capsys, "render", "--profile", str(path), "--namespace", "team-a")
    assert code == 0
    assert yaml.safe_load_all(out)
    assert err == (
        f"{path}: warning: spec.guardrails.exceptions[0].expires: the exception for "
        "team-a/legacy expired 2020-01-01T00:00:00Z: the operator and netiso check no longer "
        "honour it, admission still does until the entry is removed\n"
    )


# --- the command itself ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "code"),
    [([], 2), (["render"], 2), (["validate"], 2), (["frobnicate"], 2), (["--help"], 0)],
)
def test_usage_errors_exit_two_and_help_exits_zero(
    capsys: pytest.CaptureFixture[str], argv: list[str], code: int
) -> None:
    assert run(capsys, *argv)[0] == code


def test_commands_registered_at_the_cluster_facing_hook_are_dispatched(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
        status = subparsers.add_parser("status")
        status.set_defaults(handler=lambda args: 7)

    assert cli._add_cluster_facing_commands.__doc__
    monkeypatch.setattr(cli, "_add_cluster_facing_commands", register)
    assert run(capsys, "status")[0] == 7


def test_a_usage_error_raised_by_a_command_is_one_line_and_exit_two(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def fail(args: argparse.Namespace) -> int:
        raise UsageError("--context: no such context")

    def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
        subparsers.add_parser("diff").set_defaults(handler=fail)

    monkeypatch.setattr(cli, "_add_cluster_facing_commands", register)
    assert run(capsys, "diff")[::2] == (2, "netiso diff: error: --context: no such context\n")


def test_the_installed_entry_point_runs_without_a_traceback(tmp_path: Path) -> None:
    bad = write(tmp_path, name="bad.yaml", content="apiVersion: [\n")
    result = subprocess.run(
        [sys.executable, "-m", "netiso.cli.app", "validate", str(bad)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO / "operator")},
        check=False,
        timeout=60,
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stdout.startswith(f"{bad}: invalid YAML: ")
