"""A real Prometheus for the end-to-end alert proofs: config, rules file, process, HTTP API.

The rules come from manifests/components/monitoring/prometheusrule.yaml `.spec.groups` (the
one source, read by tests/ship/test_alerts.py's `load_rules`); only each alert's `for` is
shortened so a test can watch pending -> firing in seconds. The scrape job mirrors the
ServiceMonitor: job `netiso-metrics` (the Service name) and honor_labels. Prometheus runs on
127.0.0.1 with storage in a temporary directory, in its own process group, and is always
stopped.
"""

from __future__ import annotations

import contextlib
import copy
import json
import re
import shutil
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Final

import yaml

from netiso_devkit.harness import ROOT, free_port, stop_process_group, wait_for

from ..ship.test_alerts import load_rules

DEBIAN_PROMETHEUS: Final = Path("/usr/bin/prometheus")
# The job name the Prometheus Operator gives the ServiceMonitor's endpoints: the Service name.
JOB: Final = "netiso-metrics"
RULES_FILE: Final = "netiso-rules.yaml"


def prometheus_binary() -> str:
    """Debian's /usr/bin/prometheus (or one on PATH); fails, never skips, when there is none:
    CI installs it (.ci/install-system-deps.sh), so a missing binary is a broken setup."""
    found = shutil.which("prometheus") or (
        str(DEBIAN_PROMETHEUS) if DEBIAN_PROMETHEUS.exists() else None
    )
    if found is None:
        raise AssertionError(
            "prometheus is not installed: run .ci/install-system-deps.sh "
            "(Debian package `prometheus`, binary /usr/bin/prometheus)"
        )
    return found


def shipped_groups() -> list[dict[str, Any]]:
    """The PrometheusRule's `.spec.groups`, as shipped."""
    return load_rules(ROOT)


def with_short_for(groups: list[dict[str, Any]], duration: str) -> list[dict[str, Any]]:
    """A copy of the groups with every alert's `for` set to `duration`, and every minute of a
    range or offset in an expression made SECONDS_PER_MINUTE seconds (`[10m]` -> `[20s]`), so
    windows keep their proportions at the test's 1 s scrapes; nothing else changes (labels,
    annotations and the rest of each expression stay byte-identical)."""
    short = copy.deepcopy(groups)
    for group in short:
        for rule in group["rules"]:
            if "alert" in rule:
                rule["for"] = duration
                rule["expr"] = shorter_windows(rule["expr"])
    return short


# One minute of an alert's window, in the test's Prometheus (scrape and evaluate every second).
SECONDS_PER_MINUTE: Final = 2
_MINUTES: Final = re.compile(r"(\[|offset )(\d+)m\b")


def shorter_windows(expr: str) -> str:
    """`expr` with each `[Nm]` range and `offset Nm` in seconds, SECONDS_PER_MINUTE a minute."""
    return _MINUTES.sub(
        lambda found: f"{found.group(1)}{int(found.group(2)) * SECONDS_PER_MINUTE}s", expr
    )


def scrape_config(*, target: str, rules_file: str) -> dict[str, Any]:
    """prometheus.yml: scrape and evaluate every second, one static netiso target."""
    return {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s", "scrape_timeout": "1s"},
        "rule_files": [rules_file],
        "scrape_configs": [
            {
                "job_name": JOB,
                # As the ServiceMonitor's honorLabels: netiso's `namespace` label survives.
                "honor_labels": True,
                "metrics_path": "/metrics",
                "static_configs": [{"targets": [target]}],
            }
        ],
    }


class PrometheusProcess:
    """One Prometheus server; start() waits for /-/ready, stop() leaves no process behind."""

    def __init__(self, *, workdir: Path, target: str, groups: list[dict[str, Any]]) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.log_path = workdir / "prometheus.log"
        (workdir / RULES_FILE).write_text(yaml.safe_dump({"groups": groups}, sort_keys=False))
        config = scrape_config(target=target, rules_file=RULES_FILE)
        (workdir / "prometheus.yml").write_text(yaml.safe_dump(config, sort_keys=False))
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, *, timeout: float = 30.0) -> PrometheusProcess:
        command = [
            prometheus_binary(),
            f"--config.file={self.workdir / 'prometheus.yml'}",
            f"--storage.tsdb.path={self.workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--log.level=info",
        ]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                command,
                cwd=self.workdir,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )

        def ready() -> bool:
            assert self.process is not None
            if self.process.poll() is not None:
                raise AssertionError(
                    f"prometheus exited with {self.process.returncode}:\n{self.log()}"
                )
            try:
                with urllib.request.urlopen(f"{self.url}/-/ready", timeout=2) as response:
                    return int(response.status) == 200
            except (urllib.error.URLError, OSError):
                return False

        wait_for("prometheus ready", ready, timeout=timeout, interval=0.2)
        return self

    def stop(self, *, timeout: float = 20.0) -> int:
        """SIGTERM the process group, SIGKILL after `timeout`; returns the exit code."""
        if self.process is None:
            return 0
        return stop_process_group(self.process, timeout=timeout)

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-10000:]
        except OSError:
            return ""

    def api(self, path: str, **params: str) -> Any:
        """The `data` of a successful /api/v1 answer."""
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        with urllib.request.urlopen(f"{self.url}/api/v1/{path}{query}", timeout=5) as response:
            payload = json.loads(response.read())
        assert payload["status"] == "success", payload
        return payload["data"]

    def alerts(self, name: str, **labels: str) -> list[dict[str, Any]]:
        """Active (pending or firing) alerts named `name` whose labels include `labels`."""
        return [
            alert
            for alert in self.api("alerts")["alerts"]
            if alert["labels"].get("alertname") == name
            and all(alert["labels"].get(k) == v for k, v in labels.items())
        ]

    def alert_state(self, name: str, **labels: str) -> str | None:
        """'pending', 'firing', or None when no such alert is active."""
        found = self.alerts(name, **labels)
        assert len(found) <= 1, found
        return str(found[0]["state"]) if found else None

    def target_health(self) -> Mapping[str, str]:
        """job -> health ('up', 'down', 'unknown') of the active targets."""
        targets = self.api("targets")["activeTargets"]
        return {t["labels"]["job"]: t["health"] for t in targets}


@contextlib.contextmanager
def running_prometheus(
    *, workdir: Path, target: str, groups: list[dict[str, Any]]
) -> Iterator[PrometheusProcess]:
    """Prometheus for the duration of a block; stopped however the block ends."""
    server = PrometheusProcess(workdir=workdir, target=target, groups=groups)
    try:
        yield server.start()
    finally:
        server.stop()


def wait_for_state(
    server: PrometheusProcess, name: str, *, state: str | None, timeout: float, **labels: str
) -> None:
    """Poll until the alert is in `state` ('pending', 'firing', None for not active)."""
    seen: list[str] = []

    def reached() -> bool:
        current = server.alert_state(name, **labels)
        if not seen or seen[-1] != str(current):
            seen.append(str(current))
        return current == state

    try:
        wait_for(f"{name} {labels} {state or 'inactive'}", reached, timeout=timeout, interval=0.2)
    except AssertionError as exc:
        raise AssertionError(f"{exc}; states seen in order: {seen}") from None
