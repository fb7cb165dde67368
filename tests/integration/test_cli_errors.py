"""Every cluster-facing command fails with one clear line and exit status 2, never a traceback:
no kubeconfig, an unknown context, a failing exec plugin, an unreachable server, and the API
server's 401 and 403 (naming the missing permission).

The last two need the real API server; the others need none and run without it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import pytest
import yaml

from netiso import __version__
from netiso_devkit.localcluster.controlplane import ControlPlane
from netiso_devkit.processes import free_port

EXPLAIN = ["explain", "--from", "default/a", "--to", "svc/b:80"]
COMMANDS = [["status"], ["diff", "-n", "default"], ["version"], ["matrix"], EXPLAIN, ["exposure"]]
IDS = ["status", "diff", "version", "matrix", "explain", "exposure"]
# What the reachability commands read, as the 403 message names it.
READS = (
    "list namespaces, pods and networkpolicies, and get the services and workloads "
    "(deployments, statefulsets, daemonsets, replicasets) it is asked about"
)


def netiso(
    *args: str, kubeconfig: Path | None = None, home: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the installed command with only the given kubeconfig (and HOME) to find."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("KUBECONFIG", "KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT")
    }
    if kubeconfig is not None:
        env["KUBECONFIG"] = str(kubeconfig)
    if home is not None:
        env["HOME"] = str(home)
    program = str(Path(sys.executable).with_name("netiso"))
    return subprocess.run(
        [program, *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )


def kubeconfig_file(
    directory: Path, *, server: str, user: Mapping[str, object], ca: Path | None = None
) -> Path:
    cluster: dict[str, object] = {"server": server}
    if ca is not None:
        cluster["certificate-authority"] = str(ca)
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": "main",
        "clusters": [{"name": "c", "cluster": cluster}],
        "users": [{"name": "u", "user": user}],
        "contexts": [
            {"name": "main", "context": {"cluster": "c", "user": "u"}},
            {"name": "other", "context": {"cluster": "c", "user": "u"}},
        ],
    }
    path = directory / "kubeconfig"
    path.write_text(yaml.safe_dump(config))
    return path


def assert_one_line_error(result: subprocess.CompletedProcess[str], command: str) -> str:
    """The error line, after checking exit status 2, no traceback and nothing else printed."""
    assert result.returncode == 2, result
    assert "Traceback" not in result.stdout + result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"netiso {command}: error: ")
    return lines[0].removeprefix(f"netiso {command}: error: ")


@pytest.mark.parametrize("argv", COMMANDS, ids=IDS)
def test_no_kubeconfig_at_all(tmp_path: Path, argv: list[str]) -> None:
    result = netiso(*argv, home=tmp_path)
    message = assert_one_line_error(result, argv[0])
    assert message == "no kubeconfig: pass --kubeconfig, set KUBECONFIG or create ~/.kube/config"
    if argv[0] == "version":
        assert result.stdout == f"Client Version: {__version__}\n"


@pytest.mark.parametrize("argv", COMMANDS, ids=IDS)
def test_a_kubeconfig_file_that_does_not_exist(tmp_path: Path, argv: list[str]) -> None:
    missing = tmp_path / "missing"
    result = netiso(*argv, "--kubeconfig", str(missing), home=tmp_path)
    message = assert_one_line_error(result, argv[0])
    assert message.startswith(f"unusable kubeconfig {missing}: ")


@pytest.mark.parametrize("argv", COMMANDS, ids=IDS)
def test_an_unknown_context_lists_the_known_ones(tmp_path: Path, argv: list[str]) -> None:
    kubeconfig = kubeconfig_file(tmp_path, server="https://127.0.0.1:1", user={"token": "t"})
    result = netiso(*argv, "--context", "nope", kubeconfig=kubeconfig, home=tmp_path)
    message = assert_one_line_error(result, argv[0])
    assert message == f'context "nope" not found in {kubeconfig} (contexts: main, other)'


@pytest.mark.parametrize("argv", COMMANDS, ids=IDS)
def test_a_failing_exec_plugin_is_named(tmp_path: Path, argv: list[str]) -> None:
    user = {
        "exec": {
            "apiVersion": "client.authentication.k8s.io/v1",
            "command": sys.executable,
            "args": ["-c", "import sys; print('no such cloud account', file=sys.stderr); exit(3)"],
            "interactiveMode": "Never",
        }
    }
    kubeconfig = kubeconfig_file(tmp_path, server="https://127.0.0.1:1", user=user)
    result = netiso(*argv, kubeconfig=kubeconfig, home=tmp_path)
    message = assert_one_line_error(result, argv[0])
    assert message.startswith(f"kubeconfig {kubeconfig}: exec: process returned 3")
    assert "no such cloud account" in message


@pytest.mark.parametrize("argv", COMMANDS, ids=IDS)
def test_an_unreachable_server(tmp_path: Path, argv: list[str]) -> None:
    server = f"https://127.0.0.1:{free_port()}"
    kubeconfig = kubeconfig_file(tmp_path, server=server, user={"token": "t"})
    result = netiso(*argv, kubeconfig=kubeconfig, home=tmp_path)
    message = assert_one_line_error(result, argv[0])
    assert message.startswith(f"cannot reach the API server at {server}: Cannot connect to host")
    if argv[0] == "version":
        assert result.stdout == f"Client Version: {__version__}\n"


@pytest.mark.parametrize("argv", COMMANDS, ids=IDS)
def test_refused_credentials_are_a_401(
    control_plane: ControlPlane, tmp_path: Path, argv: list[str]
) -> None:
    kubeconfig = kubeconfig_file(
        tmp_path,
        server=control_plane.server,
        user={"token": "not-a-token"},
        ca=control_plane.ca_certificate,
    )
    result = netiso(*argv, kubeconfig=kubeconfig, home=tmp_path)
    message = assert_one_line_error(result, argv[0])
    assert message == (
        f"the API server at {control_plane.server} refused the credentials (401 Unauthorized): "
        "the kubeconfig's token or certificate is invalid or has expired"
    )


@pytest.mark.parametrize(
    ("argv", "needs"),
    [
        (
            ["status"],
            'namespaces is forbidden: User "nobody" cannot list resource "namespaces" in API '
            'group "" at the cluster scope (netiso status needs to list namespaces, '
            "networkpolicies and isolationprofiles)",
        ),
        (
            ["diff", "-n", "default"],
            'namespaces "default" is forbidden: User "nobody" cannot get resource "namespaces" '
            'in API group "" in the namespace "default" (netiso diff needs to get namespaces, '
            "list networkpolicies and isolationprofiles)",
        ),
        (
            ["version"],
            'deployments.apps is forbidden: User "nobody" cannot list resource "deployments" '
            'in API group "apps" at the cluster scope (netiso version needs to list '
            "deployments.apps (for the operator's version))",
        ),
        (
            ["matrix"],
            'namespaces is forbidden: User "nobody" cannot list resource "namespaces" in API '
            f'group "" at the cluster scope (netiso matrix needs to {READS})',
        ),
        (
            EXPLAIN,
            'namespaces is forbidden: User "nobody" cannot list resource "namespaces" in API '
            f'group "" at the cluster scope (netiso explain needs to {READS})',
        ),
        (
            ["exposure"],
            'namespaces is forbidden: User "nobody" cannot list resource "namespaces" in API '
            f'group "" at the cluster scope (netiso exposure needs to {READS})',
        ),
    ],
    ids=IDS,
)
def test_a_missing_permission_is_a_403_naming_it(
    control_plane: ControlPlane, tmp_path: Path, argv: list[str], needs: str
) -> None:
    kubeconfig = control_plane.user_kubeconfig("nobody")
    result = netiso(*argv, kubeconfig=kubeconfig, home=tmp_path)
    message = assert_one_line_error(result, argv[0])
    assert message == f"permission denied: {needs}"
