"""Running netiso the way users do, for integration tests and benchmarks.

`OperatorProcess` starts `kopf run -A -m netiso.main` in a subprocess with a given kubeconfig,
waits for /readyz, reads /metrics and stops it (SIGTERM or SIGKILL). `grant_operator_rbac`
binds a plain user to exactly the ClusterRole shipped in manifests/, so the operator runs with
the rights a real install gives it and nothing more.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar

import yaml
from kubernetes import client
from kubernetes.client.rest import ApiException
from prometheus_client.parser import text_string_to_metric_families

ROOT = Path(__file__).resolve().parents[2]
CRD_FILE = ROOT / "crds" / "isolationprofiles.netiso.io.yaml"
RBAC_FILE = ROOT / "manifests" / "rbac.yaml"
OPERATOR_USER = "netiso-operator"
GROUP, VERSION, PLURAL = "netiso.io", "v1alpha1", "isolationprofiles"

T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(
    what: str, probe: Callable[[], T | None], *, timeout: float = 30.0, interval: float = 0.1
) -> T:
    """Poll until probe() returns something truthy; fail with `what` on timeout."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


def http_get(url: str, *, timeout: float = 5.0) -> tuple[int, str]:
    """(status, body) of a GET on a loopback URL; status 0 when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return int(response.status), response.read().decode()
    except urllib.error.HTTPError as exc:
        return int(exc.code), exc.read().decode()
    except OSError:
        return 0, ""


def http_status(url: str) -> int:
    """The status a GET on `url` answers with, 0 when nothing answers."""
    return http_get(url, timeout=2.0)[0]


def stop_process_group(
    process: subprocess.Popen[bytes], *, sig: int = signal.SIGTERM, timeout: float = 30.0
) -> int:
    """Signal a process started with start_new_session, SIGKILL it after `timeout`; returns
    its exit code."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    return int(process.returncode)


def install_crd(api: client.ApiClient) -> None:
    """Create or replace the IsolationProfile CRD and wait until it is Established."""
    ext = client.ApiextensionsV1Api(api)
    body = yaml.safe_load(CRD_FILE.read_text())
    name = body["metadata"]["name"]
    try:
        existing = ext.read_custom_resource_definition(name)
        body["metadata"]["resourceVersion"] = existing.metadata.resource_version
        ext.replace_custom_resource_definition(name, body)
    except ApiException as exc:
        if exc.status != 404:
            raise
        ext.create_custom_resource_definition(body)

    def established() -> bool:
        crd = ext.read_custom_resource_definition(name)
        return any(
            c.type == "Established" and c.status == "True" for c in crd.status.conditions or []
        )

    wait_for("CRD established", established)


def operator_cluster_role() -> dict[str, Any]:
    """The ClusterRole from manifests/rbac.yaml."""
    for doc in yaml.safe_load_all(RBAC_FILE.read_text()):
        if doc and doc.get("kind") == "ClusterRole":
            return dict(doc)
    raise AssertionError(f"no ClusterRole in {RBAC_FILE}")


def grant_operator_rbac(
    api: client.ApiClient, *, user: str = OPERATOR_USER, rules: list[Any] | None = None
) -> str:
    """Bind `user` to the shipped ClusterRole (or to `rules` instead); returns the role name."""
    rbac = client.RbacAuthorizationV1Api(api)
    role = operator_cluster_role()
    role_name = f"{role['metadata']['name']}-for-{user}"
    role["metadata"] = {"name": role_name}
    if rules is not None:
        role["rules"] = rules
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": role_name},
        "roleRef": {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "ClusterRole",
            "name": role_name,
        },
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}],
    }
    for create, replace, body in (
        (rbac.create_cluster_role, rbac.replace_cluster_role, role),
        (rbac.create_cluster_role_binding, rbac.replace_cluster_role_binding, binding),
    ):
        try:
            create(body)
        except ApiException as exc:
            if exc.status != 409:
                raise
            replace(role_name, body)
    return role_name


def parse_metrics(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample as {(name, sorted labels): value}."""
    out: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


class OperatorProcess:
    """One `kopf run -A -m netiso.main` subprocess."""

    def __init__(
        self,
        *,
        kubeconfig: Path,
        log_path: Path,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.kubeconfig = kubeconfig
        self.log_path = log_path
        self.metrics_port = free_port()
        self.liveness_port = free_port()
        self.extra_env = dict(env or {})
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def command(self) -> list[str]:
        kopf = str(Path(sys.executable).with_name("kopf"))
        return [
            kopf,
            "run",
            "-A",
            "-m",
            "netiso.main",
            "--standalone",
            f"--liveness=http://127.0.0.1:{self.liveness_port}/healthz",
        ]

    def start(self, *, wait_ready: bool = True, timeout: float = 60.0) -> OperatorProcess:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("NETISO_", "KUBERNETES_SERVICE"))
        }
        env.update(
            {
                "KUBECONFIG": str(self.kubeconfig),
                "NETISO_METRICS_HOST": "127.0.0.1",
                "NETISO_METRICS_PORT": str(self.metrics_port),
                "NETISO_STATUS_INTERVAL": "0.5",
                "NETISO_OPERATOR_NAMESPACE": "netiso-system",
                "PYTHONUNBUFFERED": "1",
            }
        )
        env.update(self.extra_env)
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            self.command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        log.close()
        if wait_ready:
            self.wait_ready(timeout=timeout)
        return self

    def _get(self, path: str) -> tuple[int, str]:
        return http_get(f"http://127.0.0.1:{self.metrics_port}{path}")

    def wait_ready(self, *, timeout: float = 60.0) -> None:
        def ready() -> bool:
            if self.process is not None and self.process.poll() is not None:
                raise AssertionError(
                    f"operator exited with {self.process.returncode}:\n{self.log()}"
                )
            return self._get("/readyz")[0] == 200

        wait_for("operator readiness", ready, timeout=timeout, interval=0.2)

    def metrics_text(self) -> str:
        status, text = self._get("/metrics")
        assert status == 200, f"/metrics answered {status}"
        return text

    def metric(self, name: str, **labels: str) -> float | None:
        """One sample's value, or None when the series is absent."""
        key = (name, tuple(sorted(labels.items())))
        return parse_metrics(self.metrics_text()).get(key)

    def metric_sum(self, name: str, **match: str) -> float:
        """Sum of all samples of `name` whose labels include `match`."""
        total = 0.0
        for (sample, labels), value in parse_metrics(self.metrics_text()).items():
            if sample == name and all(dict(labels).get(k) == v for k, v in match.items()):
                total += value
        return total

    def write_requests(self) -> float:
        """API write requests netiso itself sent (anything but get/list/watch)."""
        total = 0.0
        for (sample, labels), value in parse_metrics(self.metrics_text()).items():
            if sample == "netiso_api_requests_total" and dict(labels)["verb"] not in {
                "get",
                "list",
                "watch",
            }:
                total += value
        return total

    def stop(self, *, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int:
        """Signal the operator and wait; returns its exit code."""
        assert self.process is not None
        return stop_process_group(self.process, sig=sig, timeout=timeout)

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-20000:]
        except OSError:
            return ""


@contextlib.contextmanager
def running_operator(
    *, kubeconfig: Path, log_path: Path, env: Mapping[str, str] | None = None
) -> Iterator[OperatorProcess]:
    """An operator for the duration of a block; asserts it stopped cleanly on SIGTERM."""
    operator = OperatorProcess(kubeconfig=kubeconfig, log_path=log_path, env=env).start()
    try:
        yield operator
    finally:
        code = operator.stop()
        assert code == 0, f"operator exited with {code}:\n{operator.log()}"
