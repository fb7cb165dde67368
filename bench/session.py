"""What every scenario shares: the admin client, the policy watch, the operator process, the
profiles and namespaces this run created, and helpers to create, render, settle and measure.

Everything the run creates carries its run id (`nb-<id>-...` names, `bench.netiso.io/run`
label), so cleanup finds it all and nothing else.
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import logging
import signal
import subprocess
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, Final

import aiohttp
import jinja2
import yaml

from bench.client import MERGE_PATCH, KubeClient, KubeError, bounded
from bench.options import ROOT, Options
from bench.processes import ProcessSample, sample
from bench.serverstats import ServerStats, scrape
from bench.watching import PolicyWatch, Wanted
from netiso import conventions
from netiso.model.namespaces import NamespaceFacts
from netiso.model.parsing import parse_profile
from netiso.rendering.bodies import RenderedPolicy, render_policies
from netiso_devkit.harness import OperatorProcess, parse_metrics

log = logging.getLogger(__name__)

RUN_LABEL: Final = "bench.netiso.io/run"
SET_LABEL: Final = "bench.netiso.io/set"
PROFILES_PATH: Final = f"/apis/{conventions.GROUP}/{conventions.VERSION}/{conventions.PLURAL}"
SAMPLE_PROFILE: Final = ROOT / "manifests" / "samples" / "baseline.yaml"
READ_VERBS: Final = frozenset({"get", "list", "watch"})
# The operator's own default; the integration harness lowers it to 0.5 s for fast tests, which
# would make status writes more frequent than in a real cluster.
PRODUCTION_STATUS_INTERVAL: Final = "5"
# Longer than the status interval, so a late status write is not mistaken for quiet.
QUIET_SECONDS: Final = 6.0

Metrics = dict[tuple[str, tuple[tuple[str, str], ...]], float]


class BenchOperator(OperatorProcess):
    """The kit's operator process, started by another kopf (a baseline's venv) if given."""

    def __init__(self, *, kopf: Path | None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.kopf = kopf

    @property
    def command(self) -> list[str]:
        command = super().command
        if self.kopf is not None:
            command[0] = str(self.kopf)
        return command


def code_identity() -> dict[str, Any]:
    """The commit of the work tree and, when operator/ or templates/ differ from it, which
    files and a digest of the difference (so two runs can be told apart)."""

    def git(*args: str) -> str:
        done = subprocess.run(
            ["git", "-C", str(ROOT), *args], capture_output=True, text=True, check=False
        )
        return done.stdout if done.returncode == 0 else ""

    paths = ("--", "operator", "templates")
    diff = git("diff", "HEAD", *paths)
    return {
        "commit": git("rev-parse", "--short", "HEAD").strip() or "unknown",
        "dirty_files": [line[3:] for line in git("status", "--porcelain", *paths).splitlines()],
        "diff_sha256": hashlib.sha256(diff.encode()).hexdigest()[:12] if diff else "",
    }


class Session:
    """Shared state of one benchmark run; scenarios receive it and add their results."""

    def __init__(
        self,
        *,
        options: Options,
        admin: KubeClient,
        operator_kubeconfig: Path,
        run_id: str,
        logs: Path,
        environment: jinja2.Environment,
    ) -> None:
        self.options = options
        self.admin = admin
        self.operator_kubeconfig = operator_kubeconfig
        self.run_id = run_id
        self.logs = logs
        self.environment = environment
        self.prefix = f"nb-{run_id}-"
        self.watch = PolicyWatch(admin, prefix=self.prefix)
        self.http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        self.operator: OperatorProcess | None = None
        self.operator_exit_codes: list[int] = []
        # The operator is tuned while benchmarks run: which code each start actually ran.
        self.operator_code: list[dict[str, Any]] = []
        self._operator_starts = 0
        self.profiles: dict[str, dict[str, Any]] = {}
        self.namespaces: set[str] = set()
        self.main_profile = ""
        self.main_namespaces: list[str] = []
        # The raw bound's namespaces: existing and unlabelled once it is done (opt-in uses them).
        self.raw_namespaces: list[str] = []
        self.results: dict[str, Any] = {}
        self.samples: dict[str, dict[str, float]] = {}

    # ----- names and profiles ----------------------------------------------------------------

    def namespace_names(self, kind: str, count: int) -> list[str]:
        return [f"{self.prefix}{kind}-{index:05d}" for index in range(count)]

    def profile_body(self, name: str) -> dict[str, Any]:
        """The shipped baseline sample (all four policies) under another name."""
        body = dict(yaml.safe_load((self.options.profile_file or SAMPLE_PROFILE).read_text()))
        body["metadata"] = {"name": name, "labels": {RUN_LABEL: self.run_id}}
        return body

    async def create_profile(self, name: str, **spec: Any) -> None:
        body = self.profile_body(name)
        body["spec"].update(spec)
        await self.admin.request("POST", PROFILES_PATH, body=body)
        self.profiles[name] = body
        # Not needed for correctness (a namespace that arrives first is fixed by the profile
        # event), but it keeps profile start-up out of the measured window.
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and self.operator is not None:
            _, live = await self.admin.request("GET", f"{PROFILES_PATH}/{name}")
            if live.get("status"):
                return
            await asyncio.sleep(0.1)

    async def patch_profile(self, name: str, spec: Mapping[str, Any]) -> None:
        """Merge-patch the profile's spec (and our copy, which expected() renders)."""
        await self.admin.request(
            "PATCH", f"{PROFILES_PATH}/{name}", body={"spec": spec}, content_type=MERGE_PATCH
        )
        self.profiles[name]["spec"].update(copy.deepcopy(dict(spec)))

    def render(
        self, profile: str, namespace: str, body: Mapping[str, Any] | None = None
    ) -> tuple[RenderedPolicy, ...]:
        """What netiso should write into `namespace` for the profile (as we last set it)."""
        spec = parse_profile(dict(body or self.profiles[profile]))
        labels = {conventions.NAMESPACE_NAME_LABEL: namespace, RUN_LABEL: self.run_id}
        return render_policies(
            self.environment, spec, NamespaceFacts(name=namespace, labels=labels)
        )

    def expected(self, profile: str, namespaces: Iterable[str]) -> Wanted:
        return {ns: {p.name: p.spec_hash for p in self.render(profile, ns)} for ns in namespaces}

    # ----- namespaces ------------------------------------------------------------------------

    async def create_namespace(
        self, name: str, *, kind: str, profile: str | None, started: dict[str, float] | None
    ) -> None:
        labels = {RUN_LABEL: self.run_id, SET_LABEL: kind}
        if profile:
            labels[conventions.PROFILE_LABEL] = profile
        body = {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": name, "labels": labels},
        }
        self.namespaces.add(name)
        if started is not None:
            started[name] = time.monotonic()
        await self.admin.request("POST", "/api/v1/namespaces", body=body)

    async def create_namespaces(
        self,
        names: list[str],
        *,
        kind: str,
        profile: str | None,
        started: dict[str, float] | None = None,
    ) -> float:
        """Create namespaces `create_concurrency` at a time; returns the seconds it took."""
        begun = time.monotonic()
        await bounded(
            self.options.create_concurrency,
            [self.create_namespace(n, kind=kind, profile=profile, started=started) for n in names],
        )
        return time.monotonic() - begun

    async def delete_namespaces(self, names: Iterable[str]) -> None:
        async def delete(name: str) -> None:
            await self.admin.request("DELETE", f"/api/v1/namespaces/{name}", allow=frozenset({404}))

        await bounded(self.options.create_concurrency, [delete(n) for n in names])

    async def wait_namespaces_gone(self, *, kind: str | None, within: float) -> bool:
        """Poll (cleanup only, never a measurement) until the run's namespaces are gone."""
        selector = f"{RUN_LABEL}={self.run_id}" + (f",{SET_LABEL}={kind}" if kind else "")
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            _, page = await self.admin.request(
                "GET", "/api/v1/namespaces", params={"labelSelector": selector, "limit": "1"}
            )
            if not page.get("items"):
                return True
            await asyncio.sleep(1.0)
        return False

    # ----- the operator ----------------------------------------------------------------------

    @property
    def running_operator(self) -> OperatorProcess:
        if self.operator is None:
            raise RuntimeError("the operator is not running")
        return self.operator

    async def start_operator(
        self,
        *,
        ready_within: float | None = None,
        on_started: Callable[[int], None] | None = None,
    ) -> float | None:
        """Start `kopf run -A -m netiso.main` as users do; returns seconds until /readyz
        answered 200, or None if it did not within `ready_within` (default: generous, by N).
        The operator is left running either way; `on_started(pid)` runs before the wait."""
        # A Lease of its own per start: a restart after SIGKILL measures start-up, not the
        # dead process's lease running out (the failover scenario measures that).
        operator = self.new_operator(
            lease=f"netiso-bench-{self.run_id}-{self._operator_starts + 1}"
        )
        if self.options.operator_commit is not None:
            identity = {
                "commit": self.options.operator_commit[:7],
                "dirty_files": [],
                "diff_sha256": "",
                "baseline": True,
            }
        else:
            identity = await asyncio.to_thread(code_identity)
        self.operator_code.append(identity)
        begun = time.monotonic()
        await asyncio.to_thread(operator.start, wait_ready=False)
        self.operator = operator
        if on_started is not None:
            on_started(self.operator_pid)
        within = ready_within if ready_within is not None else max(600.0, self.options.n * 0.6)
        return await self.wait_ready(begun, within=within)

    def new_operator(self, *, lease: str, **env: str) -> OperatorProcess:
        """An operator process (not started) with the run's settings, campaigning for `lease`."""
        self._operator_starts += 1
        settings = {
            "NETISO_MAX_CONCURRENCY": str(self.options.concurrency),
            "NETISO_STATUS_INTERVAL": PRODUCTION_STATUS_INTERVAL,
            "NETISO_LEASE_NAME": lease,
            "NETISO_IDENTITY": f"bench-{self._operator_starts}",
        }
        if self.options.resync_interval is not None:
            settings["NETISO_RESYNC_INTERVAL"] = str(self.options.resync_interval)
        return BenchOperator(
            kopf=self.options.operator_kopf,
            kubeconfig=self.operator_kubeconfig,
            log_path=self.logs / f"operator-{self._operator_starts}.log",
            env={**settings, **env},
        )

    async def wait_ready(self, begun: float, *, within: float) -> float | None:
        """Poll /readyz every 20 ms; seconds from `begun` until it answered 200, or None after
        `within` seconds. Raises if the process exits meanwhile."""
        operator = self.running_operator
        url = f"http://127.0.0.1:{operator.metrics_port}/readyz"
        deadline = begun + within
        while time.monotonic() < deadline:
            process = operator.process
            if process is not None and process.poll() is not None:
                raise RuntimeError(f"operator exited with {process.returncode}:\n{operator.log()}")
            try:
                async with self.http.get(url) as response:
                    if response.status == 200:
                        return time.monotonic() - begun
            except (aiohttp.ClientError, OSError):
                pass
            await asyncio.sleep(0.02)
        log.warning("operator not ready after %.0f s; log %s", within, operator.log_path)
        return None

    async def stop_operator(self, sig: int = signal.SIGTERM) -> tuple[int, float]:
        """Signal the operator and wait; (exit code, seconds it took to exit)."""
        operator = self.running_operator
        begun = time.monotonic()
        code = await asyncio.to_thread(operator.stop, sig=sig)
        self.operator_exit_codes.append(code)
        self.operator = None
        return code, time.monotonic() - begun

    @property
    def operator_pid(self) -> int:
        process = self.running_operator.process
        assert process is not None
        return process.pid

    def sample_operator(self, label: str | None = None) -> ProcessSample:
        """RSS and CPU of the kopf process now; `label` also records it for the report."""
        reading = sample(self.operator_pid)
        if label:
            self.samples[label] = reading.as_dict()
        return reading

    async def operator_metrics(self) -> Metrics:
        url = f"http://127.0.0.1:{self.running_operator.metrics_port}/metrics"
        async with self.http.get(url) as response:
            return parse_metrics(await response.text())

    @staticmethod
    def api_requests(metrics: Metrics) -> dict[str, float]:
        """netiso_api_requests_total summed by verb."""
        out: dict[str, float] = {}
        for (name, labels), value in metrics.items():
            if name == "netiso_api_requests_total":
                verb = dict(labels)["verb"]
                out[verb] = out.get(verb, 0.0) + value
        return out

    @staticmethod
    def writes(requests: Mapping[str, float]) -> int:
        return int(sum(v for verb, v in requests.items() if verb not in READ_VERBS))

    @staticmethod
    def value(metrics: Metrics, name: str, **labels: str) -> float:
        return metrics.get((name, tuple(sorted(labels.items()))), 0.0)

    async def settle(self, *, quiet: float = 1.5, within: float | None = None) -> bool:
        """Wait until the operator is idle: empty queue, no API request and no reconcile for
        `quiet` seconds. False on timeout (reported, not fatal). Windows that count writes
        pass QUIET_SECONDS, so a pending status write cannot land inside them."""
        deadline = time.monotonic() + (within or max(60.0, self.options.n * 0.05))
        last: tuple[float, float] | None = None
        quiet_since = time.monotonic()
        while time.monotonic() < deadline:
            metrics = await self.operator_metrics()
            activity = (
                sum(self.api_requests(metrics).values()),
                sum(v for (n, _), v in metrics.items() if n == "netiso_reconcile_total"),
            )
            busy = self.value(metrics, "netiso_queue_depth") > 0 or activity != last
            last = activity
            now = time.monotonic()
            if busy:
                quiet_since = now
            elif now - quiet_since >= quiet:
                return True
            await asyncio.sleep(0.25)
        return False

    # ----- the API server --------------------------------------------------------------------

    async def server_stats(self) -> ServerStats | None:
        try:
            return await scrape(self.admin)
        except (KubeError, aiohttp.ClientError, OSError) as exc:
            log.warning("cannot read the API server's /metrics: %s", exc)
            return None

    async def close(self) -> None:
        await self.http.close()
