"""Fixtures for integration tests: one real control plane per session, namespaces per test.

Every test collected under tests/integration/ is marked `integration`. With
NETISO_TEST_USE_EXISTING_CLUSTER=1 the tests run against $KUBECONFIG instead of a local
control plane (then `control_plane` and `user_kubeconfig` skip). Component logs are attached
to the report of every failed test.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Generator, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import pytest
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from netiso_devkit.harness import (
    GROUP,
    OPERATOR_USER,
    PLURAL,
    VERSION,
    OperatorProcess,
    grant_operator_rbac,
    install_crd,
    running_operator,
)
from netiso_devkit.localcluster.controlplane import ControlPlane

USE_EXISTING_CLUSTER_ENV = "NETISO_TEST_USE_EXISTING_CLUSTER"
# Lines of each component's log attached to a failed test's report.
LOG_TAIL_LINES = 60

_PLANE_KEY = pytest.StashKey[ControlPlane]()
_HERE = Path(__file__).resolve().parent


class MakeNamespace(Protocol):
    """make_namespace(prefix="test", *, labels=None) -> the new namespace's name."""

    def __call__(self, prefix: str = ..., *, labels: Mapping[str, str] | None = ...) -> str: ...


class MakeUserKubeconfig(Protocol):
    """user_kubeconfig(name, groups=()) -> kubeconfig path of a user with only RBAC rights."""

    def __call__(self, name: str, groups: Sequence[str] = ...) -> Path: ...


def using_existing_cluster() -> bool:
    """True when the tests must use $KUBECONFIG rather than start a control plane."""
    return os.environ.get(USE_EXISTING_CLUSTER_ENV, "") not in ("", "0", "false")


OPERATOR_LOG_LINES = 150


def unique_name(prefix: str) -> str:
    """A DNS-1123 label that no other test (or earlier run) uses: prefix plus 8 hex digits."""
    return f"{prefix[:50].rstrip('-').lower()}-{uuid.uuid4().hex[:8]}"


def log_excerpt(plane: ControlPlane, *, lines: int = LOG_TAIL_LINES) -> str:
    """The tail of every component's log, each under a header naming the file."""
    parts = []
    for name, path in plane.log_files.items():
        parts.append(f"----- {name} ({path}), last {lines} lines -----")
        parts.append(plane.log_tail(name, lines=lines) or "(empty)")
    return "\n".join(parts)


def own_control_plane(*, why: str) -> Iterator[ControlPlane]:
    """A control plane for one module alone (yield it from a module-scoped fixture), for tests
    that must not meet the session's other objects; skips on an existing cluster, saying why."""
    if using_existing_cluster():
        pytest.skip(f"{why}: they need a control plane of their own")
    plane = ControlPlane(progress=lambda message: print(message, file=sys.stderr, flush=True))
    plane.start(timeout=180)
    try:
        yield plane
    finally:
        plane.stop()


def plane_kubectl(
    plane: ControlPlane, *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """The plane's kubectl as its admin, with ARGS; never raises on a non-zero exit."""
    return subprocess.run(
        [str(plane.binaries.kubectl), f"--kubeconfig={plane.admin_kubeconfig}", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


# --- hooks -----------------------------------------------------------------------------------


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if _HERE in Path(str(item.path)).resolve().parents:
            item.add_marker(pytest.mark.integration)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    plane = item.config.stash.get(_PLANE_KEY, None)
    if report.failed and plane is not None:
        report.sections.append(("control plane logs", log_excerpt(plane)))
    # The module's operator outlives the test: its log would only be printed at module end,
    # where pytest shows it for no test. Attach its tail to the failing test itself.
    funcargs = getattr(item, "funcargs", {})
    process = funcargs.get("operator") if isinstance(funcargs, dict) else None
    if report.failed and isinstance(process, OperatorProcess):
        tail = "\n".join(process.log().splitlines()[-OPERATOR_LOG_LINES:])
        report.sections.append(("operator log (last lines)", tail))
    return report


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    plane = terminalreporter.config.stash.get(_PLANE_KEY, None)
    if plane is not None:
        started = plane.startup_seconds or 0.0
        terminalreporter.write_line(
            f"netiso control plane: {plane.binaries.describe()}; "
            f"ready in {started:.1f} s at {plane.server}"
        )
    elif using_existing_cluster():
        terminalreporter.write_line(
            f"netiso control plane: existing cluster from KUBECONFIG={os.environ.get('KUBECONFIG')}"
        )


# --- fixtures --------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def control_plane(request: pytest.FixtureRequest) -> Iterator[ControlPlane]:
    """The session's local control plane, started on first use and stopped at the end.

    Skips when NETISO_TEST_USE_EXISTING_CLUSTER=1: there is none to hand out then.
    """
    if using_existing_cluster():
        pytest.skip(f"{USE_EXISTING_CLUSTER_ENV}=1: no local control plane")
    plane = ControlPlane(progress=lambda message: print(message, file=sys.stderr, flush=True))
    plane.start(timeout=180)
    request.config.stash[_PLANE_KEY] = plane
    try:
        yield plane
    finally:
        plane.stop()


@pytest.fixture(scope="session")
def admin_kubeconfig(request: pytest.FixtureRequest) -> Path:
    """Kubeconfig with every right: the local admin's, or $KUBECONFIG for an existing cluster."""
    if using_existing_cluster():
        kubeconfig = os.environ.get("KUBECONFIG")
        if not kubeconfig:
            pytest.fail(f"{USE_EXISTING_CLUSTER_ENV}=1 needs KUBECONFIG to name one file")
        return Path(kubeconfig)
    plane: ControlPlane = request.getfixturevalue("control_plane")
    return plane.admin_kubeconfig


@pytest.fixture(scope="session")
def kube_api(admin_kubeconfig: Path) -> Iterator[client.ApiClient]:
    """An admin kubernetes.client.ApiClient, shared by the session and closed at its end."""
    api = config.new_client_from_config(config_file=str(admin_kubeconfig))
    try:
        yield api
    finally:
        api.close()


@pytest.fixture
def make_namespace(kube_api: client.ApiClient) -> Iterator[MakeNamespace]:
    """Factory for namespaces with unique names; deletes them (without waiting) after the test."""
    core = client.CoreV1Api(kube_api)
    created: list[str] = []

    def make(prefix: str = "test", *, labels: Mapping[str, str] | None = None) -> str:
        name = unique_name(prefix)
        body = client.V1Namespace(
            metadata=client.V1ObjectMeta(name=name, labels=dict(labels or {}))
        )
        core.create_namespace(body)
        created.append(name)
        return name

    yield make
    for name in created:
        try:
            core.delete_namespace(name)
        except ApiException as error:
            if error.status != 404:
                raise


@pytest.fixture
def user_kubeconfig(control_plane: ControlPlane) -> MakeUserKubeconfig:
    """Factory for kubeconfigs of non-admin users whose rights come only from RBAC objects."""

    def make(name: str, groups: Sequence[str] = ()) -> Path:
        return control_plane.user_kubeconfig(name, groups)

    return make


PROTECTED_NS = "netiso-protected-it"


# --- the operator, run as users run it, one per test module -------------------------------------


@pytest.fixture(scope="module")
def operator_kubeconfig(control_plane: Any, kube_api: client.ApiClient) -> Path:
    install_crd(kube_api)
    grant_operator_rbac(kube_api)
    path: Path = control_plane.user_kubeconfig(OPERATOR_USER)
    return path


@pytest.fixture(scope="module")
def operator(
    operator_kubeconfig: Path,
    tmp_path_factory: pytest.TempPathFactory,
    request: pytest.FixtureRequest,
) -> Iterator[OperatorProcess]:
    log = tmp_path_factory.mktemp("operator") / "operator.log"
    failed_before = request.session.testsfailed
    with running_operator(
        kubeconfig=operator_kubeconfig,
        log_path=log,
        env={"NETISO_PROTECTED_NAMESPACES": PROTECTED_NS, "NETISO_RESYNC_INTERVAL": "20"},
    ) as process:
        yield process
        if request.session.testsfailed > failed_before:
            print(f"----- operator log ({log}) -----\n{process.log()}")


@pytest.fixture
def profiles(kube_api: client.ApiClient) -> Iterator[Any]:
    """Factory for profiles with unique names; deleted after the test."""
    api = client.CustomObjectsApi(kube_api)
    created: list[str] = []

    def make(prefix: str = "p", **spec: Any) -> str:
        name = unique_name(prefix)
        api.create_cluster_custom_object(GROUP, VERSION, PLURAL, profile_body(name, **spec))
        created.append(name)
        return name

    yield make
    for name in created:
        try:
            api.delete_cluster_custom_object(GROUP, VERSION, PLURAL, name)
        except ApiException as exc:
            if exc.status != 404:
                raise


def profile_body(name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "IsolationProfile",
        "metadata": {"name": name},
        "spec": {"owner": "platform-team", "reason": "integration test", **spec},
    }
