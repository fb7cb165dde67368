"""kubectl parity of the live listing commands on the real API server: `-o name`, `-o json` as
a Kubernetes List, `-o jsonpath`, `--no-headers`, `netiso status | head -1` through a real pipe
(never a traceback, however the reader's exit races the writer), and shell completion of
namespaces, contexts, profiles and pods from the cluster as `kubectl netiso <TAB>` asks for it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from kubernetes import client

from netiso import conventions
from netiso_devkit.harness import install_crd
from netiso_devkit.localcluster.binaries import ensure_binaries
from tests.integration.conftest import MakeNamespace, profile_body, unique_name
from tests.integration.ship_cluster import netiso_cli

pytestmark = pytest.mark.integration

# Rows enough that the writer is still writing when head leaves in some runs and done in
# others: both sides of the race, run after run.
NAMESPACES = 12
RUNS = 10


@pytest.fixture(scope="module")
def opted_in(admin_kubeconfig: Path, kube_api: client.ApiClient) -> Iterator[tuple[str, list[str]]]:
    install_crd(kube_api)
    profile = unique_name("listing")
    custom = client.CustomObjectsApi(kube_api)
    custom.create_cluster_custom_object(
        conventions.GROUP, conventions.VERSION, "isolationprofiles", profile_body(profile)
    )
    core = client.CoreV1Api(kube_api)
    names = []
    for _ in range(NAMESPACES):
        name = unique_name("listing")
        core.create_namespace(
            client.V1Namespace(
                metadata=client.V1ObjectMeta(name=name, labels={conventions.PROFILE_LABEL: profile})
            )
        )
        names.append(name)
    yield profile, sorted(names)
    for name in names:
        core.delete_namespace(name)
    custom.delete_cluster_custom_object(
        conventions.GROUP, conventions.VERSION, "isolationprofiles", profile
    )


def piped(kubeconfig: Path, command: str) -> subprocess.CompletedProcess[str]:
    """`command` run by a shell, as a user types it; `set -o pipefail` keeps netiso's status."""
    netiso = Path(sys.executable).with_name("netiso")
    return subprocess.run(
        ["bash", "-c", f"set -o pipefail; {netiso} {command}"],
        env={**os.environ, "KUBECONFIG": str(kubeconfig)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_status_lists_as_kubectl_does(
    admin_kubeconfig: Path, opted_in: tuple[str, list[str]]
) -> None:
    profile, names = opted_in
    scope = ("status", "--profile", profile)
    done = netiso_cli(admin_kubeconfig, *scope, "-o", "json")
    assert done.returncode == 0, done.stderr
    listed = json.loads(done.stdout)
    assert (listed["apiVersion"], listed["kind"]) == ("v1", "List")
    assert [item["namespace"] for item in listed["items"]] == names

    done = netiso_cli(admin_kubeconfig, *scope, "-o", "name")
    assert done.stdout.splitlines() == [f"namespace/{name}" for name in names]

    template = '{range .items[*]}{.namespace}{"\\t"}{.profile}{"\\n"}{end}'
    done = netiso_cli(admin_kubeconfig, *scope, "-o", f"jsonpath={template}")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [f"{name}\t{profile}" for name in names]

    done = netiso_cli(admin_kubeconfig, *scope, "--no-headers")
    rows = done.stdout.splitlines()
    assert [row.split()[:2] for row in rows] == [[name, profile] for name in names]

    done = netiso_cli(admin_kubeconfig, *scope, "-o", "jsonpath={.items[")
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr.startswith("netiso status: error: --output jsonpath: unclosed {")


@pytest.mark.parametrize("output", ["table", "json"])
def test_status_into_head_never_prints_a_traceback(
    admin_kubeconfig: Path, opted_in: tuple[str, list[str]], output: str
) -> None:
    profile, _ = opted_in
    first = "NAMESPACE" if output in ("table", "wide") else ("{" if output == "json" else "")
    for _ in range(RUNS):
        done = piped(admin_kubeconfig, f"status --profile {profile} -o {output} | head -1")
        assert done.stderr == "", done.stderr
        # 0 when the whole output fitted in the pipe before head left, 141 when it did not.
        assert done.returncode in (0, 141)
        assert done.stdout.startswith(first)
        assert len(done.stdout.splitlines()) == 1


def kubectl_complete(kubeconfig: Path, *words: str) -> list[str]:
    """What `kubectl netiso WORDS...<TAB>` offers: kubectl runs kubectl_complete-netiso."""
    program = Path(sys.executable).with_name("kubectl_complete-netiso")
    done = subprocess.run(
        [str(program), *words],
        env={**os.environ, "KUBECONFIG": str(kubeconfig)},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout.splitlines()


def test_completion_offers_namespaces_contexts_profiles_and_pods(
    admin_kubeconfig: Path,
    kube_api: client.ApiClient,
    opted_in: tuple[str, list[str]],
    make_namespace: MakeNamespace,
) -> None:
    profile, names = opted_in
    assert kubectl_complete(admin_kubeconfig, "status", "-n", names[0]) == [names[0], ":4"]
    assert names[0] in kubectl_complete(admin_kubeconfig, "diff", "--namespace", "listing")
    assert kubectl_complete(admin_kubeconfig, "status", "--profile", profile[:-2]) == [
        profile,
        ":4",
    ]
    contexts = [entry["name"] for entry in yaml.safe_load(admin_kubeconfig.read_text())["contexts"]]
    assert kubectl_complete(admin_kubeconfig, "status", "--context", "") == [*contexts, ":4"]
    # A pod: its namespace first (no space after the slash), then the pod.
    namespace = make_namespace("pods")
    core = client.CoreV1Api(kube_api)
    core.create_namespaced_pod(
        namespace,
        client.V1Pod(
            metadata=client.V1ObjectMeta(name="web-0"),
            spec=client.V1PodSpec(containers=[client.V1Container(name="c", image="x")]),
        ),
    )
    assert kubectl_complete(admin_kubeconfig, "explain", "--from", namespace) == [
        f"{namespace}/",
        ":6",
    ]
    assert kubectl_complete(admin_kubeconfig, "explain", "--to", f"{namespace}/w") == [
        f"{namespace}/web-0",
        ":4",
    ]


def test_completion_of_an_unreachable_cluster_is_empty_not_an_error(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
        "clusters: [{name: c, cluster: {server: 'https://127.0.0.1:9'}}]\n"
        "users: [{name: u, user: {token: t}}]\n"
        "contexts: [{name: c, context: {cluster: c, user: u}}]\n"
    )
    assert kubectl_complete(kubeconfig, "status", "-n", "") == [":4"]
    assert kubectl_complete(kubeconfig, "status", "--context", "") == ["c", ":4"]


def test_kubectl_itself_completes_kubectl_netiso(
    admin_kubeconfig: Path, opted_in: tuple[str, list[str]]
) -> None:
    # The real kubectl's hidden __complete command, as its shell script calls it on TAB: it
    # finds kubectl_complete-netiso on PATH beside kubectl-netiso and relays its answer.
    profile, _ = opted_in
    kubectl = ensure_binaries().kubectl
    done = subprocess.run(
        [str(kubectl), "__complete", "netiso", "status", "--profile", profile[:-1]],
        env={
            **os.environ,
            "KUBECONFIG": str(admin_kubeconfig),
            "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}",
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert done.stdout.splitlines() == [profile, ":4"]
