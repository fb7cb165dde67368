"""Running netiso the way users do: `kopf run -A -m netiso.main` in a subprocess.

Part of the development kit, shared by the integration tests, the benchmarks and the demo so
that all three start, probe and stop the operator the same way. Knows the operator only by its
command line, its environment variables and its HTTP endpoints (/readyz, /metrics).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Final, Self, TypeVar

from prometheus_client.parser import text_string_to_metric_families

T = TypeVar("T")

# Reads only; everything else netiso sends is a write.
_READ_VERBS: Final = frozenset({"get", "list", "watch"})

MetricKey = tuple[str, tuple[tuple[str, str], ...]]


class WaitTimeout(AssertionError):
    """A condition did not come true in time. An AssertionError so pytest reports it as a
    failed expectation, not as a crash of the test."""


def free_port(preferred: int = 0) -> int:
    """A free TCP port on 127.0.0.1: `preferred` when it is free, else any."""
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", preferred))
        except OSError:
            sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(
    what: str, probe: Callable[[], T | None], *, timeout: float = 30.0, interval: float = 0.1
) -> T:
    """Poll until probe() returns something truthy; raise WaitTimeout naming `what`."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(interval)
    raise WaitTimeout(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


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


def parse_metrics(text: str) -> dict[MetricKey, float]:
    """Every sample of a Prometheus text exposition as {(name, sorted labels): value}."""
    out: dict[MetricKey, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def signing_key_file(kubeconfig: Path) -> Path:
    """The signing key of the cluster `kubeconfig` reaches, created once in its directory.

    Every operator the kit runs against one cluster (whatever user's kubeconfig of the local
    control plane it is given: they share a directory) shares it, as the replicas of an install
    share the Secret netiso-signing-key: a new leader or a restart proves what another wrote.
    """
    path = kubeconfig.parent / "netiso-signing-key"
    with contextlib.suppress(FileExistsError):
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as key:
            key.write(secrets.token_hex(32))
    return path


class OperatorProcess:
    """One `kopf run -A -m netiso.main` subprocess, with its metrics and liveness ports.

    The environment is the caller's minus any NETISO_* and in-cluster variables (so a
    developer's shell cannot change what a test measures), plus the cluster's signing key
    (`signing_key_file`; `env` may set NETISO_SIGNING_KEY_FILE="" to run without), plus `env`.
    """

    def __init__(
        self,
        *,
        kubeconfig: Path,
        log_path: Path,
        env: Mapping[str, str] | None = None,
        metrics_port: int = 0,
    ) -> None:
        self.kubeconfig = kubeconfig
        self.log_path = log_path
        self.metrics_port = free_port(metrics_port)
        self.liveness_port = free_port()
        self.extra_env = dict(env or {})
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """Where /metrics and /readyz answer."""
        return f"http://127.0.0.1:{self.metrics_port}"

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

    def start(self, *, wait_ready: bool = True, timeout: float = 60.0) -> Self:
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
                "PYTHONUNBUFFERED": "1",
                # The admission keeper installs netiso-managed-policies, which lets only the
                # installed service account write managed policies: a kit operator runs as
                # another user, so the keeper is off unless the caller turns it on.
                "NETISO_ADMISSION": "off",
                "NETISO_SIGNING_KEY_FILE": str(signing_key_file(self.kubeconfig)),
            }
        )
        env.update(self.extra_env)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self.command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        if wait_ready:
            self.wait_ready(timeout=timeout)
        return self

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def _get(self, path: str) -> tuple[int, str]:
        return http_get(f"{self.url}{path}")

    def wait_ready(self, *, timeout: float = 60.0) -> None:
        def ready() -> bool:
            if self.process is not None and self.process.poll() is not None:
                raise WaitTimeout(f"operator exited with {self.process.returncode}:\n{self.log()}")
            return self._get("/readyz")[0] == 200

        wait_for("operator readiness", ready, timeout=timeout, interval=0.2)

    def metrics_text(self) -> str:
        status, text = self._get("/metrics")
        if status != 200:
            raise WaitTimeout(f"/metrics answered {status}")
        return text

    def metric(self, name: str, /, **labels: str) -> float | None:
        """One sample's value, or None when the series is absent."""
        key = (name, tuple(sorted(labels.items())))
        return parse_metrics(self.metrics_text()).get(key)

    def metric_sum(self, name: str, /, **match: str) -> float:
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
            if sample == "netiso_api_requests_total" and dict(labels)["verb"] not in _READ_VERBS:
                total += value
        return total

    def stop(self, *, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int:
        """Signal the operator and wait; returns its exit code (0 when never started)."""
        if self.process is None:
            return 0
        return stop_process_group(self.process, sig=sig, timeout=timeout)

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-20000:]
        except OSError:
            return ""
