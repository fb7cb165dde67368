"""netiso authenticates as kubectl does: token and exec-plugin kubeconfigs, for the CLI and the
operator, against the real API server.

The identity is a ServiceAccount whose token comes from the TokenRequest API; its only rights
come from RBAC bindings made here. A request without the token would be anonymous and refused,
so a command that works proves the token was sent.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client

from netiso import __version__, conventions
from netiso_devkit.harness import (
    grant_lease_rbac,
    install_crd,
    operator_cluster_role,
    running_operator,
    wait_for,
)
from netiso_devkit.localcluster.controlplane import ControlPlane
from tests.integration.conftest import MakeNamespace, unique_name
from tests.integration.ship_cluster import (
    GATEWAY,
    create_profile,
    policies_in,
    profile_body,
    remove_profile,
)

# What `netiso status` and `netiso diff` read (docs/cli.md#permissions).
CLI_RULES: list[dict[str, Any]] = [
    {"apiGroups": [""], "resources": ["namespaces"], "verbs": ["get", "list"]},
    {"apiGroups": ["networking.k8s.io"], "resources": ["networkpolicies"], "verbs": ["list"]},
    {"apiGroups": [conventions.GROUP], "resources": [conventions.PLURAL], "verbs": ["list"]},
]
EXEC_PLUGIN = """\
import json, pathlib, sys
here = pathlib.Path(sys.argv[0]).parent
with (here / "calls").open("a") as calls:
    calls.write("1\\n")
print(json.dumps({
    "apiVersion": "client.authentication.k8s.io/v1",
    "kind": "ExecCredential",
    "status": {"token": (here / "token").read_text().strip()},
}))
"""

MakeIdentity = Callable[..., "Identity"]


class Identity:
    """A ServiceAccount with a TokenRequest token and kubeconfigs that present it."""

    def __init__(
        self, *, plane: ControlPlane, token: str, directory: Path, name: str, namespace: str
    ) -> None:
        self.plane = plane
        self.token = token
        self.directory = directory
        self.name = name
        # The user name the API server gives the account (what RBAC subjects match).
        self.username = f"system:serviceaccount:{namespace}:{name}"

    def _kubeconfig(self, user: dict[str, Any], *, name: str) -> Path:
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "current-context": "sa",
            "clusters": [
                {
                    "name": "local",
                    "cluster": {
                        "server": self.plane.server,
                        "certificate-authority": str(self.plane.ca_certificate),
                    },
                }
            ],
            "users": [{"name": "sa", "user": user}],
            "contexts": [
                {"name": "sa", "context": {"cluster": "local", "user": "sa", "namespace": "x"}}
            ],
        }
        path = self.directory / name
        path.write_text(yaml.safe_dump(config))
        return path

    def token_kubeconfig(self) -> Path:
        return self._kubeconfig({"token": self.token}, name="token.kubeconfig")

    def token_file_kubeconfig(self) -> Path:
        # As `kubectl create token ... > token` and most editors leave it: a trailing newline.
        token = self.directory / "token-file"
        token.write_text(self.token + "\n")
        return self._kubeconfig({"tokenFile": str(token)}, name="token-file.kubeconfig")

    def kubeconfig(self, kind: str) -> Path:
        ways = {
            "token": self.token_kubeconfig,
            "tokenFile": self.token_file_kubeconfig,
            "exec": self.exec_kubeconfig,
        }
        return ways[kind]()

    def exec_kubeconfig(self) -> Path:
        plugin = self.directory / "plugin.py"
        plugin.write_text(EXEC_PLUGIN)
        plugin.chmod(plugin.stat().st_mode | stat.S_IXUSR)
        (self.directory / "token").write_text(self.token)
        exec_user = {
            "exec": {
                "apiVersion": "client.authentication.k8s.io/v1",
                "command": sys.executable,
                "args": [str(plugin)],
                "interactiveMode": "Never",
            }
        }
        return self._kubeconfig(exec_user, name="exec.kubeconfig")

    def plugin_calls(self) -> int:
        calls = self.directory / "calls"
        return len(calls.read_text().splitlines()) if calls.exists() else 0


@pytest.fixture
def identity(
    control_plane: ControlPlane,
    kube_api: client.ApiClient,
    make_namespace: MakeNamespace,
    tmp_path: Path,
) -> Iterator[MakeIdentity]:
    """Factory: a ServiceAccount bound to `rules`, with a fresh TokenRequest token."""
    rbac = client.RbacAuthorizationV1Api(kube_api)
    made: list[str] = []

    def make(rules: list[dict[str, Any]]) -> Identity:
        namespace = make_namespace("sa")
        name = unique_name("netiso-sa")
        core = client.CoreV1Api(kube_api)
        core.create_namespaced_service_account(
            namespace, client.V1ServiceAccount(metadata=client.V1ObjectMeta(name=name))
        )
        rbac.create_cluster_role({"metadata": {"name": name}, "rules": rules})
        rbac.create_cluster_role_binding(
            {
                "metadata": {"name": name},
                "roleRef": {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "ClusterRole",
                    "name": name,
                },
                "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": namespace}],
            }
        )
        made.append(name)
        request = client.AuthenticationV1TokenRequest(
            spec=client.V1TokenRequestSpec(audiences=[], expiration_seconds=3600)
        )
        token = core.create_namespaced_service_account_token(name, namespace, request)
        directory = tmp_path / name
        directory.mkdir()
        return Identity(
            plane=control_plane,
            token=token.status.token,
            directory=directory,
            name=name,
            namespace=namespace,
        )

    yield make
    for name in made:
        rbac.delete_cluster_role_binding(name)
        rbac.delete_cluster_role(name)


@pytest.fixture
def profile(kube_api: client.ApiClient) -> Iterator[str]:
    install_crd(kube_api)
    name = unique_name("auth")
    create_profile(kube_api, name)
    yield name
    remove_profile(kube_api, name)


def netiso(kubeconfig: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}
    program = str(Path(sys.executable).with_name("netiso"))
    return subprocess.run(
        [program, args[0], "--kubeconfig", str(kubeconfig), *args[1:]],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("kind", ["token", "tokenFile", "exec"])
def test_status_and_diff_authenticate_with_a_service_account_token(
    identity: MakeIdentity, make_namespace: MakeNamespace, profile: str, kind: str
) -> None:
    account = identity(CLI_RULES)
    kubeconfig = account.kubeconfig(kind)
    namespace = make_namespace("auth", labels={conventions.PROFILE_LABEL: profile})

    status = netiso(kubeconfig, "status", "-o", "json")
    assert status.returncode == 0, status.stderr
    rows = {row["namespace"]: row for row in json.loads(status.stdout)["items"]}
    # No operator runs here: the namespace is opted in and nothing is applied yet.
    assert rows[namespace]["profile"] == profile
    assert rows[namespace]["state"] == "pending"

    diff = netiso(kubeconfig, "diff", "-n", namespace)
    assert diff.returncode == 1, diff.stderr
    assert f"# namespace {namespace}: isolated (profile {profile})" in diff.stdout
    assert f"+++ desired/{namespace}/netiso-default-deny" in diff.stdout
    if kind == "exec":
        assert account.plugin_calls() == 2  # one login per command


def test_a_request_without_the_token_is_refused(identity: MakeIdentity, profile: str) -> None:
    # The control: the same kubeconfig with the token removed gets nowhere.
    account = identity(CLI_RULES)
    kubeconfig = account.token_kubeconfig()
    config = yaml.safe_load(kubeconfig.read_text())
    config["users"][0]["user"] = {}
    kubeconfig.write_text(yaml.safe_dump(config))
    status = netiso(kubeconfig, "status")
    assert status.returncode == 2
    assert "Traceback" not in status.stderr
    assert status.stderr.startswith("netiso status: error: ")


@pytest.mark.parametrize("kind", ["token", "tokenFile", "exec"])
def test_the_operator_runs_with_a_token_token_file_or_exec_plugin_kubeconfig(
    identity: MakeIdentity,
    kube_api: client.ApiClient,
    make_namespace: MakeNamespace,
    profile: str,
    tmp_path: Path,
    kind: str,
) -> None:
    account = identity(operator_cluster_role()["rules"])
    # As the shipped RBAC does: the leader election Lease in the operator's namespace.
    grant_lease_rbac(kube_api, user=account.username)
    kubeconfig = account.kubeconfig(kind)
    namespace = make_namespace("auth", labels={conventions.PROFILE_LABEL: profile})
    with running_operator(kubeconfig=kubeconfig, log_path=tmp_path / "operator.log") as operator:
        wait_for(
            "the namespace isolated by the operator",
            lambda: "netiso-default-deny" in policies_in(kube_api, namespace),
            timeout=60,
        )
        assert operator.metric_sum("netiso_api_requests_total", code="401") == 0
        assert operator.metric_sum("netiso_api_requests_total", code="403") == 0
    if kind == "exec":
        # Kopf's login ran the plugin (and nothing else logged in for netiso's own client).
        assert account.plugin_calls() >= 1


# --- what the read-only identity sees ----------------------------------------------------------


def test_status_filters_by_profile_and_selector_and_sums_up(
    identity: MakeIdentity, kube_api: client.ApiClient, make_namespace: MakeNamespace
) -> None:
    install_crd(kube_api)
    first, second = unique_name("first"), unique_name("second")
    for name in (first, second):
        create_profile(kube_api, name)
    try:
        a = make_namespace("a", labels={conventions.PROFILE_LABEL: first, "team": "x"})
        c = make_namespace("c", labels={conventions.PROFILE_LABEL: first, "team": "y"})
        make_namespace("b", labels={conventions.PROFILE_LABEL: second, "team": "x"})
        kubeconfig = identity(CLI_RULES).token_kubeconfig()

        by_profile = netiso(kubeconfig, "status", "--profile", first, "-o", "yaml")
        assert by_profile.returncode == 0, by_profile.stderr
        assert [row["namespace"] for row in yaml.safe_load(by_profile.stdout)["items"]] == sorted(
            [a, c]
        )

        by_both = netiso(kubeconfig, "status", "--profile", first, "-l", "team=x")
        assert by_both.returncode == 0, by_both.stderr
        assert by_both.stdout.splitlines() == [
            "NAMESPACE" + " " * (len(a) - 6) + "PROFILE" + " " * (len(first) - 4) + "STATE"
            "     PENDING   DRIFT   GUARDRAILS",
            f"{a}   {first}   pending   2         -       -",
            "1 namespace: 1 pending",
        ]

        wide = netiso(kubeconfig, "status", "--profile", first, "-o", "wide")
        assert wide.stdout.splitlines()[0].split() == [
            "NAMESPACE",
            "PROFILE",
            "STATE",
            "PENDING",
            "DRIFT",
            "GUARDRAILS",
            "EXPOSURE",
            "MESSAGE",
        ]
        assert wide.stdout.splitlines()[-1] == "2 namespaces: 2 pending"

        nothing = netiso(kubeconfig, "status", "-l", "team=nobody")
        assert (nothing.returncode, nothing.stdout) == (0, "no namespace matches\n")
    finally:
        for name in (first, second):
            remove_profile(kube_api, name)


def test_diff_profile_previews_a_file_against_the_live_namespaces_and_writes_nothing(
    identity: MakeIdentity,
    kube_api: client.ApiClient,
    make_namespace: MakeNamespace,
    profile: str,
    tmp_path: Path,
) -> None:
    opted_in = [make_namespace("live", labels={conventions.PROFILE_LABEL: profile}) for _ in "ab"]
    newcomer = make_namespace("new")
    reader = identity(CLI_RULES).token_kubeconfig()
    operator_account = identity(operator_cluster_role()["rules"])
    grant_lease_rbac(kube_api, user=operator_account.username)
    operator_kubeconfig = operator_account.token_kubeconfig()
    unchanged = tmp_path / "unchanged.yaml"
    unchanged.write_text(yaml.safe_dump(profile_body(profile)))
    widened = tmp_path / "widened.yaml"
    # A kustomization beside the profile is skipped, as validate skips it.
    widened.write_text(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n---\n"
        + yaml.safe_dump(profile_body(profile, gateway=GATEWAY))
    )

    def isolated() -> bool:
        return all("netiso-default-deny" in policies_in(kube_api, ns) for ns in opted_in)

    with running_operator(kubeconfig=operator_kubeconfig, log_path=tmp_path / "operator.log"):
        wait_for("both namespaces isolated", isolated, timeout=60)
        before = {ns: policies_in(kube_api, ns) for ns in [*opted_in, newcomer]}

        same = netiso(reader, "diff", "--profile", str(unchanged), "-A")
        assert same.returncode == 0, same.stdout + same.stderr
        assert sorted(line for line in same.stdout.splitlines()) == sorted(
            f"# namespace {ns}: isolated (profile {profile})" for ns in opted_in
        )

        wider = netiso(reader, "diff", "--profile", str(widened), "-A")
        assert wider.returncode == 1, wider.stderr
        for namespace in opted_in:
            assert f"+++ desired/{namespace}/netiso-allow-gateway-ingress" in wider.stdout
            assert f"desired/{namespace}/netiso-default-deny" not in wider.stdout
        assert newcomer not in wider.stdout

        preview = netiso(reader, "diff", "--profile", str(widened), "-n", newcomer, "-o", "json")
        assert preview.returncode == 1, preview.stderr
        (report,) = json.loads(preview.stdout)["items"]
        assert (report["namespace"], report["profile"]) == (newcomer, profile)
        assert f"+++ desired/{newcomer}/netiso-default-deny" in report["diff"]

        after = {ns: policies_in(kube_api, ns) for ns in [*opted_in, newcomer]}
    assert {ns: sorted(p) for ns, p in after.items()} == {ns: sorted(p) for ns, p in before.items()}


def test_version_reports_the_operator_deployments_it_can_list(
    identity: MakeIdentity, kube_api: client.ApiClient, make_namespace: MakeNamespace
) -> None:
    namespace = make_namespace("op")
    apps = client.AppsV1Api(kube_api)
    for name, labels, image in (
        ("labelled", {"app.kubernetes.io/version": "1.2.3"}, "netiso"),
        ("tagged", {}, "registry.example:5000/netiso:2.0.0@sha256:" + "0" * 64),
    ):
        selector = {"app.kubernetes.io/name": "netiso", "app.kubernetes.io/instance": name}
        apps.create_namespaced_deployment(
            namespace,
            {
                "metadata": {"name": name, "labels": {**selector, **labels}},
                "spec": {
                    "selector": {"matchLabels": selector},
                    "template": {
                        "metadata": {"labels": selector},
                        "spec": {"containers": [{"name": "operator", "image": image}]},
                    },
                },
            },
        )
    rules = [{"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["list"]}]
    kubeconfig = identity(rules).token_kubeconfig()
    result = netiso(kubeconfig, "version", "-o", "json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["clientVersion"] == __version__
    mine = {o["name"]: o["version"] for o in report["operators"] if o["namespace"] == namespace}
    assert mine == {"labelled": "1.2.3", "tagged": "2.0.0"}
    text = netiso(kubeconfig, "version").stdout.splitlines()
    assert text[0] == f"Client Version: {__version__}"
    assert f"Operator Version: 1.2.3 ({namespace}/labelled)" in text
