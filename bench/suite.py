"""The benchmark run from start to finish: cluster, operator, scenarios in order, cleanup, report.

Order matters: the raw bound runs before the operator exists; bootstrap brings N namespaces in
sync for everything after it; restart comes last because it replaces the operator process.
Whatever happens, cleanup deletes what the run created and stops every process it started.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import sys
import tempfile
import time
import traceback
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kubernetes import config as k8s_config

from bench import baselines, reports
from bench.client import MERGE_PATCH, KubeClient
from bench.options import ROOT, Options, parse
from bench.profiling import Recording
from bench.scenarios import (
    bootstrap,
    dependencies,
    drift,
    failover,
    fanout,
    guardrails,
    optin,
    raw,
    restart,
    sharded,
    steady,
    trickle,
)
from bench.session import PROFILES_PATH, RUN_LABEL, SAMPLE_PROFILE, Session
from netiso.rendering.environment import make_environment
from netiso_devkit.harness import (
    CRD_FILE,
    OPERATOR_USER,
    RBAC_FILE,
    grant_operator_rbac,
    install_crd,
    operator_cluster_role,
)
from netiso_devkit.harness import ROOT as HARNESS_ROOT
from netiso_devkit.localcluster.controlplane import ControlPlane

log = logging.getLogger("bench")

Scenario = Callable[[Session], Awaitable[dict[str, Any]]]


def say(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


async def _scenario(session: Session, name: str, scenario: Scenario, *, report: bool) -> bool:
    """Run one scenario, profiled if asked; store its result. False when it failed."""
    say(f"{name}: start")
    recording = None
    # restart profiles its new processes itself (the pid changes).
    if name in session.options.profile and name != "restart" and session.operator is not None:
        recording = Recording(pid=session.operator_pid, out=session.logs / f"profile-{name}.txt")
    begun = time.monotonic()
    try:
        result = await scenario(session)
    except Exception as exc:
        log.exception("scenario %s failed", name)
        session.results[name] = {"error": f"{type(exc).__name__}: {exc}"}
        return False
    finally:
        profile = recording.stop() if recording is not None else None
    result["scenario_seconds"] = round(time.monotonic() - begun, 1)
    if profile is not None:
        result["profile"] = profile
    if report:
        session.results[name] = result
    say(f"{name}: done in {result['scenario_seconds']} s")
    return True


async def _resources(session: Session) -> dict[str, Any]:
    """Scenario 7: the RSS/CPU samples taken along the way, and the process's peak RSS."""
    if session.operator is not None:
        session.sample_operator("end")
    peaks = [s["peak_rss_mib"] for s in session.samples.values()]
    return {
        "samples": dict(session.samples),
        "peak_rss_mib": max(peaks, default=0.0),
        "note": "RSS is VmRSS; peak is VmHWM of the process sampled (a restart resets it)",
    }


async def _cleanup(session: Session, *, existing_cluster: bool) -> dict[str, Any]:
    """Delete the run's namespaces, then its profiles (while the operator still runs, so its
    finalizer completes), then stop the operator."""
    out: dict[str, Any] = {}
    await session.watch.stop()
    selector = {"labelSelector": f"{RUN_LABEL}={session.run_id}"}
    items, _ = await session.admin.list_pages("/api/v1/namespaces", params=selector)
    live = [i["metadata"]["name"] for i in items if not i["metadata"].get("deletionTimestamp")]
    await session.delete_namespaces(live)
    out["namespaces_deleted"] = len(live)
    profiles, _ = await session.admin.list_pages(PROFILES_PATH, params=selector)
    for profile in profiles:
        await session.admin.request(
            "DELETE", f"{PROFILES_PATH}/{profile['metadata']['name']}", allow=frozenset({404})
        )
    deadline = time.monotonic() + 120
    while profiles and time.monotonic() < deadline:
        profiles, _ = await session.admin.list_pages(PROFILES_PATH, params=selector)
        await asyncio.sleep(0.5)
    for profile in profiles:
        # The operator is gone or stuck: release its finalizer so nothing is left behind.
        await session.admin.request(
            "PATCH",
            f"{PROFILES_PATH}/{profile['metadata']['name']}",
            body={"metadata": {"finalizers": None}},
            content_type=MERGE_PATCH,
            allow=frozenset({404}),
        )
    out["profiles_force_released"] = len(profiles)
    if session.operator is not None:
        code, _ = await session.stop_operator()
        out["operator_exit_code"] = code
    if existing_cluster:
        out["namespaces_gone"] = await session.wait_namespaces_gone(
            kind=None, within=max(300.0, session.options.n * 0.5)
        )
    return out


async def run_suite(
    options: Options,
    *,
    admin_kubeconfig: Path,
    operator_kubeconfig: Path,
    run_id: str,
    logs: Path,
    existing_cluster: bool,
) -> dict[str, Any]:
    """Run the selected scenarios; returns the report's `scenarios` plus run facts."""
    admin = KubeClient.from_kubeconfig(admin_kubeconfig, connections=128)
    session = Session(
        options=options,
        admin=admin,
        operator_kubeconfig=operator_kubeconfig,
        run_id=run_id,
        logs=logs,
        environment=make_environment(),
    )
    facts: dict[str, Any] = {"errors": []}
    try:
        _, version = await admin.request("GET", "/version")
        facts["kubernetes"] = version.get("gitVersion", "?")
        await session.watch.start()
        await _run_scenarios(session)
    except Exception as exc:
        log.exception("benchmark run failed")
        facts["errors"].append(f"{type(exc).__name__}: {exc}")
    finally:
        try:
            say("cleanup")
            facts["cleanup"] = await _cleanup(session, existing_cluster=existing_cluster)
        except Exception as exc:
            log.exception("cleanup failed")
            facts["errors"].append(f"cleanup: {type(exc).__name__}: {exc}")
            if session.operator is not None:
                await session.stop_operator()
        await session.close()
        await admin.close()
    facts["errors"] += [
        f"{name}: {result['error']}"
        for name, result in session.results.items()
        if isinstance(result, dict) and "error" in result
    ]
    facts["operator_exit_codes"] = session.operator_exit_codes
    facts["operator_code"] = session.operator_code
    facts["watch_events"] = session.watch.events
    facts["watch_relists"] = session.watch.relists
    facts["scenarios"] = session.results
    facts["logs"] = str(logs)
    return facts


async def _run_scenarios(session: Session) -> None:
    options = session.options
    if options.wants("raw") and not await _scenario(session, "raw", raw.run, report=True):
        return
    if not options.needs_operator:
        return
    ready = await session.start_operator()
    if ready is None:
        raise RuntimeError("the operator did not become ready on an empty cluster")
    session.results["operator_start"] = {"ready_seconds_empty_cluster": round(ready, 3)}
    # Let start-up work (imports, first lists) finish before calling it idle.
    await asyncio.sleep(3)
    session.sample_operator("idle")
    if options.wants("optin"):
        if not await _scenario(session, "optin", optin.run, report=True):
            return
        await session.settle()
    if options.needs_bootstrap:
        if not await _scenario(
            session, "bootstrap", bootstrap.run, report=options.wants("bootstrap")
        ):
            return
        await session.settle()
        session.sample_operator(f"after bootstrap of {options.n}")
    if options.wants("trickle"):
        await _scenario(session, "trickle", trickle.run, report=True)
        await session.settle()
    steps: Sequence[tuple[str, Scenario]] = (
        ("fanout", fanout.run),
        ("drift", drift.run),
        ("guardrails", guardrails.run),
        ("steady", steady.run),
        ("dependencies", dependencies.run),
    )
    for name, scenario in steps:
        if options.wants(name):
            if not await _scenario(session, name, scenario, report=True):
                return
            await session.settle()
            session.sample_operator(f"after {name}")
    if options.wants("restart"):
        await _scenario(session, "restart", restart.run, report=True)
        session.sample_operator("after restart")
    if options.wants("failover"):
        await _scenario(session, "failover", failover.run, report=True)
        await session.settle()
        session.sample_operator("after failover")
    # Last, so it includes the restarted process (whose peak is its own: VmHWM is per process).
    if options.wants("resources"):
        await _scenario(session, "resources", _resources, report=True)
    # After everything: it replaces the single operator with sharded replicas for a while.
    if options.wants("sharded"):
        await _scenario(session, "sharded", sharded.run, report=True)


def measure(options: Options) -> dict[str, Any]:
    """One complete run on a control plane of its own (or the given cluster): the report."""
    run_id = secrets.token_hex(3)
    logs = options.logs or Path(tempfile.mkdtemp(prefix=f"netiso-bench-{run_id}-"))
    logs.mkdir(parents=True, exist_ok=True)
    who = f"baseline {options.operator_commit[:10]}" if options.operator_commit else "work tree"
    say(f"run {run_id} ({who}): N={options.n}, scenarios {','.join(options.scenarios)}; "
        f"logs in {logs}")  # fmt: skip
    started = datetime.now(UTC)
    load_before = reports.load_average()
    begun = time.monotonic()
    plane: ControlPlane | None = None
    machine = reports.machine_facts()
    try:
        if options.kubeconfig is None:
            plane = ControlPlane(progress=say)
            plane.start(timeout=180)
            admin_kubeconfig = plane.admin_kubeconfig
            machine["etcd"] = plane.binaries.etcd_version
            cluster = f"local control plane ({plane.binaries.describe()})"
        else:
            admin_kubeconfig = options.kubeconfig
            machine["etcd"] = "unknown (existing cluster)"
            cluster = f"existing cluster from {options.kubeconfig}"
        api = k8s_config.new_client_from_config(config_file=str(admin_kubeconfig))
        try:
            tree = options.operator_tree
            if tree is None:
                install_crd(api)
                grant_operator_rbac(api)
            else:
                # The baseline's own CRD and ClusterRole: a newer schema may default fields
                # into profiles that the older operator does not know.
                install_crd(api, crd_file=tree / CRD_FILE.relative_to(HARNESS_ROOT))
                rules = operator_cluster_role(tree / RBAC_FILE.relative_to(HARNESS_ROOT))["rules"]
                grant_operator_rbac(api, rules=rules)
        finally:
            api.close()
        if plane is not None:
            # A plain user bound to exactly the shipped ClusterRole: API Priority and Fairness
            # treats it as a cluster would treat the operator's service account.
            operator_kubeconfig = plane.user_kubeconfig(OPERATOR_USER)
        else:
            operator_kubeconfig = options.operator_kubeconfig or admin_kubeconfig
        facts = asyncio.run(
            run_suite(
                options,
                admin_kubeconfig=admin_kubeconfig,
                operator_kubeconfig=operator_kubeconfig,
                run_id=run_id,
                logs=logs,
                existing_cluster=plane is None,
            )
        )
    except Exception as exc:
        traceback.print_exc()
        facts = {"errors": [f"{type(exc).__name__}: {exc}"], "scenarios": {}}
        cluster = "not started"
    finally:
        if plane is not None:
            say("stopping the control plane")
            plane.stop()
    machine["kubernetes"] = facts.pop("kubernetes", "?")
    machine["load_average"] = {"start": load_before, "end": reports.load_average()}
    report: dict[str, Any] = {
        "schema": 1,
        "run_id": run_id,
        "started": started.isoformat(timespec="seconds"),
        "duration_seconds": round(time.monotonic() - begun, 1),
        "cluster": cluster,
        "machine": machine,
        "config": {
            "n": options.n,
            "scenarios": list(options.scenarios),
            "concurrency": options.concurrency,
            "raw_concurrencies": list(options.raw_concurrencies),
            "create_concurrency": options.create_concurrency,
            "steady_seconds": options.steady_seconds,
            "trickle_count": options.trickle_count,
            "trickle_interval": options.trickle_interval,
            "drift_sizes": list(options.drift_sizes),
            "report_trials": options.report_trials,
            "foreign_policies": options.foreign_policies,
            "restart_settle": options.restart_settle,
            "restart_ready_within": options.restart_ready_within,
            "resync_interval": options.resync_interval,
            "profile": list(options.profile),
            "operator": "baseline" if options.operator_commit else "work tree",
        },
        **facts,
    }
    report["targets"] = reports.evaluate(report)
    return report


def _before_and_after(options: Options) -> int:
    """The baseline commit's operator, then the work tree's, measured by the same benchmark
    one after the other; both reports and their comparison are written."""
    assert options.baseline_ref is not None
    baseline = baselines.prepare(options.baseline_ref, progress=say)
    # Both operators start from the same profile, one the older understands.
    options = replace(options, profile_file=baseline.source / SAMPLE_PROFILE.relative_to(ROOT))
    try:
        before = measure(
            replace(
                options,
                operator_kopf=baseline.kopf,
                operator_commit=baseline.commit,
                operator_tree=baseline.source,
                logs=options.logs / "before" if options.logs else None,
            )
        )
        after = measure(replace(options, logs=options.logs / "after" if options.logs else None))
    finally:
        baseline.remove()
    for path in reports.write_pair(before=before, after=after, options=options):
        say(f"wrote {path}")
    print(reports.comparison(before=before, after=after))
    return 1 if before.get("errors") or after.get("errors") else 0


def main(argv: Sequence[str] | None = None) -> int:
    options = parse(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    if options.baseline_ref is not None:
        return _before_and_after(options)
    report = measure(options)
    for path in reports.write(report, options):
        say(f"wrote {path}")
    print(reports.markdown(report))
    return 1 if report.get("errors") else 0
