"""Fixtures for the dataplane tier: a control plane and one real node, pods and packets.

Every test under tests/dataplane/ is marked `dataplane` (tests/conftest.py) and runs with
--all or when named. One control plane (with the Deployment controllers) and one Dataplane
(containerd, kubelet, kube-scheduler, kube-router as the test-only enforcer) for the tier;
needs root. The node's and the control plane's log tails are attached to a failed test;
`make_namespace` is the integration tier's, over this tier's control plane.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Generator, Iterator
from pathlib import Path

import pytest
from kubernetes import client, config

from netiso_devkit.dataplane.images import ctr_binary, import_archive
from netiso_devkit.dataplane.nodes import Dataplane
from netiso_devkit.localcluster.binaries import cache_dir
from netiso_devkit.localcluster.commandlines import CONTROLLERS, WORKLOAD_CONTROLLERS
from netiso_devkit.localcluster.controlplane import ControlPlane
from netiso_devkit.operatorimage.building import OperatorImage, ensure_image, export_archive

# The integration tier's namespace factory, over this tier's control plane and client.
from tests.integration.conftest import MakeNamespace, make_namespace, unique_name
from tests.prerequisites import unavailable

__all__ = ["MakeNamespace", "make_namespace", "unique_name"]

LOG_TAIL_LINES = 40
_NODE_KEY = pytest.StashKey[Dataplane]()
_PLANE_KEY = pytest.StashKey[ControlPlane]()
_REPORT_KEY = pytest.StashKey[list[str]]()


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    node = item.config.stash.get(_NODE_KEY, None)
    plane = item.config.stash.get(_PLANE_KEY, None)
    if report.failed:
        for owner in (node, plane):
            for name in owner.log_files if owner is not None else ():
                tail = owner.log_tail(name, lines=LOG_TAIL_LINES) if owner else ""
                report.sections.append((f"{name} log (last lines)", tail or "(empty)"))
    return report


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    node = terminalreporter.config.stash.get(_NODE_KEY, None)
    if node is not None and node.timings is not None:
        terminalreporter.write_line(f"netiso dataplane bring-up: {node.timings}")
    for line in terminalreporter.config.stash.get(_REPORT_KEY, []):
        terminalreporter.write_line(f"netiso dataplane: {line}")


# Package scope: the node goes as soon as the tier's last test is done, so that a long
# `pytest --all` neither keeps it running nor holds the machine's one dataplane lock.
@pytest.fixture(scope="package")
def control_plane(request: pytest.FixtureRequest) -> Iterator[ControlPlane]:
    """A control plane that also runs the Deployment and ReplicaSet controllers."""
    plane = ControlPlane(progress=_say, controllers=CONTROLLERS + WORKLOAD_CONTROLLERS)
    plane.start(timeout=180)
    request.config.stash[_PLANE_KEY] = plane
    try:
        yield plane
    finally:
        plane.stop()


@pytest.fixture(scope="package")
def dataplane(control_plane: ControlPlane, request: pytest.FixtureRequest) -> Iterator[Dataplane]:
    """The session's node, Ready and enforcing; everything it made is removed at the end."""
    node = Dataplane(control_plane, progress=_say)
    node.start()
    request.config.stash[_NODE_KEY] = node
    try:
        yield node
    finally:
        node.stop()


@pytest.fixture(scope="package")
def kube_api(control_plane: ControlPlane) -> Iterator[client.ApiClient]:
    """An admin client of this tier's control plane."""
    api = config.new_client_from_config(config_file=str(control_plane.admin_kubeconfig))
    try:
        yield api
    finally:
        api.close()


@pytest.fixture(scope="session")
def dataplane_report(request: pytest.FixtureRequest) -> list[str]:
    """Lines (measurements, counts) printed in the terminal summary at the end."""
    return request.config.stash.setdefault(_REPORT_KEY, [])


@pytest.fixture(scope="session")
def operator_archive() -> tuple[OperatorImage, Path]:
    """The operator image built from this tree, and its archive. Session-scoped so that pytest
    makes it before the session's node, which is one per machine and held briefly."""
    if shutil.which("buildah") is None:
        unavailable("buildah is not installed (.ci/install-system-deps.sh)")
    image = ensure_image(progress=_say)
    return image, export_archive(image, cache=cache_dir())


@pytest.fixture(scope="module")
def operator_image(
    operator_archive: tuple[OperatorImage, Path], dataplane: Dataplane
) -> tuple[str, str]:
    """The image imported into the node as the manifests name it and under a second tag for
    an upgrade: (first, second)."""
    image, archive = operator_archive
    socket = dataplane.paths.containerd_socket
    import_archive(archive, ctr=ctr_binary(), address=socket)
    second = f"{image.reference}-next"
    ctr = [ctr_binary(), "--address", str(socket), "-n", "k8s.io", "images"]
    subprocess.run([*ctr, "tag", "--force", image.reference, second], check=True, timeout=60)
    return image.reference, second
