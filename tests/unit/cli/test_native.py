"""The kubectl conventions of the `netiso` command that need no cluster: --version, the plugin
name, -o formats, tables and summaries, shell completion, and the errors' wording.

Unit tests of the CLI (netiso.cli.app, .printing, .completion, .live).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from netiso import __version__
from netiso.cli.app import PROGRAMS, build_parser, program_name
from netiso.cli.completion import kubectl_complete
from netiso.cli.inspection import StatusLine, summary
from netiso.cli.live import explain
from netiso.cli.printing import dumps, table
from netiso.runtime.client import ApiError
from tests.unit.cli.running import run

REPO = Path(__file__).resolve().parents[3]
BASELINE = REPO / "manifests" / "samples" / "baseline.yaml"


def test_the_version_comes_from_the_package_metadata(capsys: pytest.CaptureFixture[str]) -> None:
    pyproject = (REPO / "pyproject.toml").read_text()
    assert f'\nversion = "{__version__}"\n' in pyproject
    assert run(capsys, "--version") == (0, f"netiso {__version__}\n", "")
    code, out, _ = run(capsys, "version", "--client", "-o", "json")
    assert (code, json.loads(out)) == (0, {"clientVersion": __version__})


def test_run_as_kubectl_netiso_it_calls_itself_kubectl_netiso() -> None:
    assert program_name("/usr/local/bin/kubectl-netiso") == "kubectl netiso"
    assert program_name("/usr/local/bin/netiso") == "netiso"
    assert build_parser("kubectl netiso").format_usage().startswith("usage: kubectl netiso")
    scripts = (REPO / "pyproject.toml").read_text()
    for program in PROGRAMS:
        assert f'\n{program} = "netiso.cli.app:main"\n' in scripts


def test_validate_and_render_speak_yaml_and_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "validate", str(BASELINE), "-o", "yaml")
    assert code == 0
    assert yaml.safe_load(out) == {
        "valid": True,
        "documents": [{"file": str(BASELINE), "valid": True, "problems": [], "warnings": []}],
    }
    code, out, _ = run(
        capsys, "render", "--profile", str(BASELINE), "--namespace", "a", "-o", "json"
    )
    assert (code, json.loads(out)["kind"]) == (0, "List")


def test_tables_are_aligned_like_kubectl() -> None:
    assert table(["NAME", "STATE"], [["a-long-name", "ok"], ["b", "pending"]]) == (
        "NAME          STATE\na-long-name   ok\nb             pending"
    )


def test_dumps_keeps_key_order_in_yaml_and_indents_json() -> None:
    data = [{"namespace": "b", "apply": 1}]
    assert dumps(data, output="yaml") == "- namespace: b\n  apply: 1\n"
    assert dumps(data, output="json") == '[\n  {\n    "namespace": "b",\n    "apply": 1\n  }\n]\n'


def test_the_summary_counts_states_most_first() -> None:
    def line(state: str) -> StatusLine:
        return StatusLine(namespace="n", profile="p", state=state, drift="-", pending=0)

    states = ["isolated", "drifted", "isolated", "error", "isolated", "drifted"]
    assert summary(map(line, states)) == "6 namespaces: 3 isolated, 2 drifted, 1 error"
    assert summary([line("pending")]) == "1 namespace: 1 pending"
    assert summary([]) == "0 namespaces"


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (
            ApiError(status=0, reason="ConnectionError", message="Connection refused"),
            "cannot reach the API server at https://k:6443: Connection refused",
        ),
        (
            ApiError(
                status=404,
                reason="NotFound",
                message="",
                method="GET",
                path="/apis/netiso.io/v1alpha1/isolationprofiles",
            ),
            "the IsolationProfile API is not installed at https://k:6443: apply "
            "crds/isolationprofiles.netiso.io.yaml first",
        ),
        (
            ApiError(status=500, reason="InternalError", message="etcd", method="GET", path="/x"),
            "GET /x: 500 InternalError: etcd",
        ),
    ],
    ids=["unreachable", "no crd", "other"],
)
def test_api_errors_are_explained(error: ApiError, expected: str) -> None:
    assert explain(error, server="https://k:6443", command="status") == expected


def offered(capsys: pytest.CaptureFixture[str], *words: str) -> list[str]:
    """What `kubectl netiso WORDS` completes (the last word being typed), as kubectl asks."""
    assert kubectl_complete(list(words)) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[-1].startswith(":")  # Cobra's directive line, which kubectl reads
    return lines[:-1]


def test_completion_offers_commands_options_choices_and_files(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert offered(capsys, "st") == ["status"]
    assert offered(capsys, "status", "-o", "") == [
        "table",
        "wide",
        "json",
        "yaml",
        "name",
        "jsonpath=",
    ]
    assert {"--all-namespaces", "--no-headers"} <= set(offered(capsys, "status", "--"))
    assert offered(capsys, "completion", "") == ["bash", "zsh", "fish"]
    (tmp_path / "profile.yaml").write_text("")
    assert offered(capsys, "validate", "prof") == ["profile.yaml"]
    assert offered(capsys, "diff", "--profile", "prof") == ["profile.yaml"]
    # A value with no fixed choices completes to nothing rather than to options or files.
    assert offered(capsys, "status", "--selector", "") == []


# Slow: bash runs the installed program, which imports every command to complete one.
@pytest.mark.slow
def test_the_completion_scripts_come_from_argcomplete_for_both_names(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    for shell in ("bash", "zsh", "fish"):
        code, out, _ = run(capsys, "completion", shell)
        assert code == 0
        assert "_ARGCOMPLETE" in out
        assert all(program in out for program in PROGRAMS)
    # bash, as a user's shell loads it: the script asks the installed program.
    script = tmp_path / "netiso.bash"
    script.write_text(run(capsys, "completion", "bash")[1])
    program = (
        f'PATH={Path(sys.executable).parent}:"$PATH"; source {script}; '
        'COMP_LINE="netiso status -o ya"; COMP_POINT=${#COMP_LINE}; '
        "COMP_WORDS=(netiso status -o ya); COMP_CWORD=3; "
        '_python_argcomplete netiso; printf "%s\\n" "${COMPREPLY[@]}"'
    )
    done = subprocess.run(["bash", "-c", program], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["yaml"]


def test_the_kubectl_plugin_completion_program_is_installed() -> None:
    scripts = (REPO / "pyproject.toml").read_text()
    assert '\n"kubectl_complete-netiso" = "netiso.cli.completion:kubectl_complete"\n' in scripts


def nowhere(tmp_path: Path) -> Path:
    """A kubeconfig naming a server that does not exist."""
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
        "clusters: [{name: c, cluster: {server: 'http://127.0.0.1:9'}}]\n"
        "users: [{name: u, user: {token: t}}]\n"
        "contexts: [{name: c, context: {cluster: c, user: u}}]\n"
    )
    return kubeconfig


def test_status_refuses_a_selector_with_one_namespace(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    kubeconfig = str(nowhere(tmp_path))
    code, out, err = run(capsys, "status", "--kubeconfig", kubeconfig, "-n", "a", "-l", "x=y")
    assert (code, out) == (2, "")
    assert err == (
        "netiso status: error: --selector filters all namespaces: use it without --namespace\n"
    )


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (
            "apiVersion: netiso.io/v1alpha1\nkind: IsolationProfile\nkind: X\n",
            '{path}: duplicate key "kind" at line 3, column 1 (first at line 2)',
        ),
        (
            "apiVersion: netiso.io/v1alpha1\nkind: IsolationProfile\nmetadata: {name: a}\n"
            "spec: {mode: Later}\n",
            '{path}: spec.mode: must be one of Enforce, DryRun, got "Later"',
        ),
        (
            "apiVersion: netiso.io/v1alpha1\nkind: IsolationProfile\nmetadata: {name: a}\n---\n"
            "apiVersion: netiso.io/v1alpha1\nkind: IsolationProfile\nmetadata: {name: b}\n",
            "{path}: holds 2 profiles; diff --profile takes one",
        ),
    ],
    ids=["duplicate key", "invalid profile", "two profiles"],
)
def test_diff_profile_refuses_a_bad_file_before_asking_the_cluster(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, expected: str
) -> None:
    # The server does not exist: the file is checked first, so the message is about the file.
    kubeconfig = nowhere(tmp_path)
    path = tmp_path / "profile.yaml"
    path.write_text(content)
    code, out, err = run(
        capsys, "diff", "--kubeconfig", str(kubeconfig), "--profile", str(path), "-A"
    )
    assert (code, out) == (2, "")
    assert err == f"netiso diff: error: {expected.format(path=path)}\n"
