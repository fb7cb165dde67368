"""A profile's apiServer allow on real packets: the selected pod reaches the API server's
endpoint and nothing else on the host; other pods, and pods of a profile without the option,
do not; when the endpoint moves, the allow follows it.

The kit's API server listens on 127.0.0.1 only, which no pod can reach, so a listener of this
test on the host side of the pod bridge stands in as the endpoint: the bridge gets the
address 10.244.0.1 for the test (the kit's pods have no gateway, so the host is otherwise
unreachable), and a second `kubernetes` EndpointSlice (as a cluster with several slices has)
names it. A second listener on the same address is "something else on the host network".
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import threading
from collections.abc import Iterator

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from netiso.conventions import PROFILE_LABEL
from netiso_devkit.dataplane.nodeconfigs import BRIDGE
from netiso_devkit.dataplane.nodes import Dataplane
from netiso_devkit.dataplane.probing import Target
from netiso_devkit.harness import (
    GROUP,
    PLURAL,
    VERSION,
    wait_for,
)
from tests.dataplane.conftest import MakeNamespace, unique_name
from tests.dataplane.test_profiles import operator  # noqa: F401 (the module's operator)
from tests.dataplane.traffic import Scene, ScenePod, start_scene
from tests.integration.conftest import profile_body
from tests.integration.test_api_server_access import slice_body

HOST = "10.244.0.1"
ENDPOINT_PORT = 16443
OTHER_PORT = 17443
ALLOW = "netiso-allow-apiserver-egress"


def _serve(listener: socket.socket) -> None:
    while True:
        try:
            connection, _ = listener.accept()
        except OSError:
            return
        connection.close()


@contextlib.contextmanager
def host_listeners() -> Iterator[None]:
    """HOST on the bridge (which the first pod creates), and TCP listeners on ENDPOINT_PORT
    and OTHER_PORT there."""
    added = subprocess.run(
        ["ip", "addr", "add", f"{HOST}/24", "dev", BRIDGE], capture_output=True, text=True
    )
    # The kit's node already gives the bridge HOST (its API server relay listens there).
    exists = ("already assigned", "File exists")
    assert added.returncode == 0 or any(m in added.stderr for m in exists), added.stderr
    listeners = []
    try:
        for port in (ENDPOINT_PORT, OTHER_PORT):
            listener = socket.create_server((HOST, port))
            threading.Thread(target=_serve, args=(listener,), daemon=True).start()
            listeners.append(listener)
        yield
    finally:
        for listener in listeners:
            listener.close()
        if added.returncode == 0:
            subprocess.run(["ip", "addr", "del", f"{HOST}/24", "dev", BRIDGE], check=False)


@pytest.mark.usefixtures("operator")
def test_only_the_selected_pod_reaches_only_the_endpoint_and_follows_it(
    dataplane: Dataplane,
    kube_api: client.ApiClient,
    make_namespace: MakeNamespace,
    dataplane_report: list[str],
) -> None:
    with_option, without = make_namespace("api-on"), make_namespace("api-off")
    controller = ScenePod(with_option, "controller", {"app": "controller"})
    web = ScenePod(with_option, "web", {"app": "web"})
    plain = ScenePod(without, "controller", {"app": "controller"})
    scene = Scene(pods=[controller, web, plain], tcp_ports=(8080,), udp_port=53)
    targets = [Target(HOST, ENDPOINT_PORT), Target(HOST, OTHER_PORT)]

    def reached() -> dict[tuple[str, str, int], bool]:
        outcomes = dataplane.probe_all({pod.key: targets for pod in scene.pods}, timeout=1.0)
        return {
            (*pod.key, target.port): outcome.result == "connected"
            for pod in scene.pods
            for target, outcome in zip(targets, outcomes[pod.key], strict=True)
        }

    slice_name = unique_name("kubernetes-standin")
    discovery = client.DiscoveryV1Api(kube_api)
    custom = client.CustomObjectsApi(kube_api)
    core = client.CoreV1Api(kube_api)
    names = [unique_name("api-on"), unique_name("api-off")]

    def cleanup() -> None:
        with contextlib.suppress(ApiException):
            discovery.delete_namespaced_endpoint_slice(slice_name, "default")
        for name in names:
            with contextlib.suppress(ApiException):
                custom.delete_cluster_custom_object(GROUP, VERSION, PLURAL, name)

    with contextlib.ExitStack() as stack:
        start_scene(dataplane, scene)
        stack.enter_context(host_listeners())
        stack.callback(cleanup)
        # Known open: before isolation every pod reaches both host listeners.
        assert all(reached().values()), reached()
        discovery.create_namespaced_endpoint_slice(
            "default", slice_body(slice_name, HOST, port=ENDPOINT_PORT)
        )
        selector = {"matchLabels": {"app": "controller"}}
        custom.create_cluster_custom_object(
            GROUP,
            VERSION,
            PLURAL,
            profile_body(names[0], apiServer={"enabled": True, "podSelector": selector}),
        )
        custom.create_cluster_custom_object(GROUP, VERSION, PLURAL, profile_body(names[1]))
        for namespace, profile in ((with_option, names[0]), (without, names[1])):
            core.patch_namespace(namespace, {"metadata": {"labels": {PROFILE_LABEL: profile}}})

        def expected(endpoint_port: int) -> dict[tuple[str, str, int], bool]:
            return {
                (*pod.key, port): pod == controller and port == endpoint_port
                for pod in scene.pods
                for port in (ENDPOINT_PORT, OTHER_PORT)
            }

        wait_for(
            "isolation with the endpoint allowed",
            lambda: reached() == expected(ENDPOINT_PORT),
            timeout=60,
            interval=0.5,
        )
        dataplane_report.append(
            "apiServer allow: only the selected pod reached the endpoint, nothing else on the "
            "host; without the option nothing"
        )
        # The endpoint moves: the policy, and the packets, follow.
        discovery.replace_namespaced_endpoint_slice(
            slice_name, "default", slice_body(slice_name, HOST, port=OTHER_PORT)
        )
        wait_for(
            "the allow following the moved endpoint",
            lambda: reached() == expected(OTHER_PORT),
            timeout=30,
            interval=0.5,
        )
