"""The benchmark's outputs: machine facts, targets met or missed, JSON and a Markdown table.

`latest.json` / `latest.md` are overwritten by every run; large runs also keep a dated copy
(`<UTC date>-n<N>.json|md`). The JSON holds everything; the Markdown is for people.
"""

from __future__ import annotations

import json
import os
import platform
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from bench.options import Options

MIB = 1024 * 1024


def machine_facts() -> dict[str, Any]:
    """Cores, memory, CPU model, OS and Python of the machine running the benchmark."""
    memory = 0
    with open("/proc/meminfo") as handle:
        for line in handle:
            if line.startswith("MemTotal:"):
                memory = int(line.split()[1]) * 1024
    model = ""
    with open("/proc/cpuinfo") as handle:
        for line in handle:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break

    def version(package: str) -> str:
        try:
            return metadata.version(package)
        except metadata.PackageNotFoundError:
            return "not installed"

    return {
        "cores": os.cpu_count(),
        "memory_gib": round(memory / 1024**3, 1),
        "cpu": model,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "netiso": version("netiso"),
        "kopf": version("kopf"),
        "aiohttp": version("aiohttp"),
    }


def load_average() -> list[float]:
    """The machine's load average over 1, 5 and 15 minutes (what `uptime` prints)."""
    return [round(value, 2) for value in os.getloadavg()]


@dataclass(frozen=True)
class Target:
    """One target from the issue: how to read the measured value and what passes."""

    name: str
    text: str
    read: Callable[[dict[str, Any]], float | None]
    passes: Callable[[float], bool]
    unit: str = ""


def _get(report: dict[str, Any], *path: str) -> Any:
    node: Any = report.get("scenarios", {})
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return node


def _worst(report: dict[str, Any], scenario: str, prefix: str, field: str) -> float | None:
    rounds = _get(report, scenario) or {}
    values = [
        r["latency"][field]
        for key, r in rounds.items()
        if key.startswith(prefix) and isinstance(r, dict) and field in r.get("latency", {})
    ]
    return max(values) if values else None


def _sum_writes(report: dict[str, Any], *path: str) -> float | None:
    node = _get(report, *path)
    if not isinstance(node, dict):
        return None
    values = [node.get("netiso_writes"), node.get("apiserver_writes")]
    known = [v for v in values if v is not None]
    return float(sum(known)) if known else None


def _restart_writes(report: dict[str, Any]) -> float | None:
    values = [_sum_writes(report, "restart", kind) for kind in ("sigterm", "sigkill")]
    known = [v for v in values if v is not None]
    return sum(known) if known else None


def _failover_steady_writes(report: dict[str, Any]) -> float | None:
    steady = _get(report, "failover", "steady_two_replicas")
    if not isinstance(steady, dict):
        return None
    replicas = sum(float(r["netiso_writes"]) for r in steady["replicas"])
    return replicas + float(steady["apiserver_writes"] or 0)


def targets(n: int) -> list[Target]:
    rss_limit = 150.0 if n <= 1000 else 400.0
    return [
        Target(
            "bootstrap",
            "bootstrap (opt-in of existing namespaces) within 1.5x of the raw bound",
            lambda r: _get(r, "optin", "ratio_to_raw"),
            lambda v: v <= 1.5,
            "x",
        ),
        Target(
            "fanout",
            "fan-out within 1.5x of the raw bound (one changed policy per namespace)",
            lambda r: _get(r, "fanout", "ratio_to_raw_apply_one"),
            lambda v: v <= 1.5,
            "x",
        ),
        Target(
            "trickle",
            "label-to-isolated p99 < 1 s, one at a time",
            lambda r: _get(r, "trickle", "latency", "p99"),
            lambda v: v < 1.0,
            "s",
        ),
        Target(
            "drift-repair",
            "drift repaired p99 < 1 s (worst round)",
            lambda r: _worst(r, "drift", "repair_", "p99"),
            lambda v: v < 1.0,
            "s",
        ),
        Target(
            "drift-report",
            "drift visible on /metrics < 1 s (worst trial)",
            lambda r: _get(r, "drift", "report", "latency", "max"),
            lambda v: v < 1.0,
            "s",
        ),
        Target(
            "guardrail-report",
            "a violating foreign policy visible on /metrics < 1 s (worst trial)",
            lambda r: _get(r, "guardrails", "report", "latency_shown", "max"),
            lambda v: v < 1.0,
            "s",
        ),
        Target(
            "steady-writes",
            "0 writes at steady state (netiso + API server counters)",
            lambda r: _sum_writes(r, "steady"),
            lambda v: v == 0,
        ),
        Target(
            "restart-writes",
            "0 writes after restart (SIGTERM and SIGKILL, both counters)",
            _restart_writes,
            lambda v: v == 0,
        ),
        Target(
            "failover-kill",
            "kill -9: new leader's first write < lease duration + 2 s (17 s)",
            lambda r: _get(r, "failover", "sigkill", "first_write_seconds"),
            lambda v: v < 17.0,
            "s",
        ),
        Target(
            "failover-term",
            "SIGTERM: new leader's first write < 5 s",
            lambda r: _get(r, "failover", "sigterm", "first_write_seconds"),
            lambda v: v < 5.0,
            "s",
        ),
        Target(
            "failover-steady",
            "0 writes by two replicas at steady state besides Lease renewals",
            _failover_steady_writes,
            lambda v: v == 0,
        ),
        Target(
            "rss",
            f"operator peak RSS < {rss_limit:.0f} MiB at N={n}",
            lambda r: _get(r, "resources", "peak_rss_mib"),
            lambda v: v < rss_limit,
            " MiB",
        ),
    ]


def evaluate(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Each target with its measured value and whether it was met (None: not measured)."""
    out = []
    for target in targets(int(report["config"]["n"])):
        value = target.read(report)
        out.append(
            {
                "target": target.name,
                "text": target.text,
                "value": value,
                "unit": target.unit,
                "met": None if value is None else target.passes(value),
            }
        )
    return out


def _fmt(value: Any, unit: str = "") -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.3f}".rstrip("0").rstrip(".") + unit
    return f"{value}{unit}"


def _latency(node: Any) -> str:
    if not isinstance(node, dict) or not node.get("count"):
        return "n/a"
    return (
        f"p50 {node['p50'] * 1000:.0f} ms, p95 {node['p95'] * 1000:.0f} ms, "
        f"p99 {node['p99'] * 1000:.0f} ms, max {node['max'] * 1000:.0f} ms (n={node['count']})"
    )


def _cpu(window: dict[str, Any]) -> str:
    """Where a window's CPU went, in core-seconds: the control plane's programs, the
    operator, the benchmark and work this run did not start ("n/a" for older results)."""
    machine = window.get("machine") or {}
    if "kube_apiserver_cores" not in machine:
        return "n/a"
    seconds = window.get("seconds") or 0.0
    parts = [
        ("kube-apiserver", machine.get("kube_apiserver_cores", 0.0) * seconds),
        ("etcd", machine.get("etcd_cores", 0.0) * seconds),
        ("controller-manager", machine.get("kube_controller_manager_cores", 0.0) * seconds),
        ("operator", (window.get("operator_cpu") or {}).get("cpu_seconds", 0.0)),
        ("benchmark", machine.get("bench_cores", 0.0) * seconds),
        ("other", machine.get("foreign_cores", 0.0) * seconds),
    ]
    total = machine.get("busy_cores", 0.0) * seconds
    shown = ", ".join(f"{name} {value:.2f}" for name, value in parts if value)
    return f"{total:.2f} busy: {shown}"


def _rows(report: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """(scenario, measure, value, ratio to raw) rows for the Markdown table."""
    rows: list[tuple[str, str, str, str]] = []
    s = report.get("scenarios", {})
    n = report["config"]["n"]
    raw = s.get("raw")
    if raw and "seconds" in raw and "trials" in raw:
        tried = ", ".join(
            f"{t['concurrency']}: {t['create_seconds']:.2f} / {t['replace_one_seconds']:.2f} s"
            for t in raw["trials"]
        )
        rows += [
            ("raw", f"create 4 policies x {n} ns (POST), best concurrency "
             f"{raw['concurrency']}", f"{raw['seconds']:.2f} s "
             f"({raw['policies_per_second']:.0f} policies/s)", "1"),
            ("raw", f"replace 1 changed policy x {n} ns (PUT), best concurrency "
             f"{raw['apply_one_concurrency']}", f"{raw['apply_one_seconds']:.2f} s", "1"),
            ("raw", "by concurrency: create / replace", tried, ""),
            ("raw", f"create {n} namespaces (admin)",
             f"{raw['namespace_create_seconds']:.2f} s", ""),
        ]  # fmt: skip
        if raw.get("namespace_label_seconds") is not None:
            rows.append(
                ("raw", f"label {n} namespaces (admin, a label netiso does not read)",
                 f"{raw['namespace_label_seconds']:.2f} s", "")
            )  # fmt: skip
        rows.append(("raw", "CPU during the creates, core-seconds", _cpu(raw["window"]), ""))
    elif raw and "seconds" in raw:  # results from before the raw bound sent creates
        rows += [
            ("raw", f"SSA 4 policies x {n} ns", f"{raw['seconds']:.2f} s", "1"),
            ("raw", f"SSA 1 changed policy x {n} ns", f"{raw['apply_one_seconds']:.2f} s", "1"),
        ]
    optin = s.get("optin")
    if optin and "seconds" in optin:
        rows += [
            ("optin", f"{optin['isolated']}/{optin['namespaces']} existing namespaces "
             "labelled -> all isolated", f"{optin['seconds']:.2f} s",
             _fmt(optin.get("ratio_to_raw"), "x")),
            ("optin", "label-to-isolated latency", _latency(optin.get("latency")), ""),
            ("optin", "operator CPU during opt-in",
             _fmt((optin["window"].get("operator_cpu") or {}).get("cpu_seconds"), " s"), ""),
            ("optin", "CPU during the opt-in, core-seconds", _cpu(optin["window"]), ""),
        ]  # fmt: skip
        if optin.get("ratio_to_raw_plus_label") is not None:
            rows.append(
                ("optin", "against the raw bound plus labelling the namespaces",
                 f"{optin['seconds']:.2f} s", _fmt(optin["ratio_to_raw_plus_label"], "x"))
            )  # fmt: skip
    boot = s.get("bootstrap")
    if boot and "seconds" in boot:
        rows += [
            ("bootstrap", f"{boot['isolated']}/{boot['namespaces']} isolated, create -> all "
             "(includes creating the namespaces)",
             f"{boot['seconds']:.2f} s", _fmt(boot.get("ratio_to_raw"), "x")),
            ("bootstrap", "of which creating namespaces",
             f"{boot['namespace_create_seconds']:.2f} s", ""),
            ("bootstrap", "label-to-isolated latency", _latency(boot.get("latency")), ""),
            ("bootstrap", "operator CPU during bootstrap",
             _fmt((boot["window"].get("operator_cpu") or {}).get("cpu_seconds"), " s"), ""),
            ("bootstrap", "CPU during the bootstrap, core-seconds", _cpu(boot["window"]), ""),
        ]  # fmt: skip
    trickle = s.get("trickle")
    if trickle and "latency" in trickle:
        rows.append(
            ("trickle", f"{trickle['isolated']}/{trickle['namespaces']} one every "
             f"{trickle['interval_seconds'] * 1000:.0f} ms", _latency(trickle["latency"]), "")
        )  # fmt: skip
    fan = s.get("fanout")
    if fan and "seconds" in fan:
        ratio = f"{_fmt(fan.get('ratio_to_raw_apply_one'), 'x')} (vs 4-policy raw: "
        ratio += f"{_fmt(fan.get('ratio_to_raw'), 'x')})"
        rows += [
            ("fanout", f"{fan['updated']}/{fan['namespaces']} new spec-hash",
             f"{fan['seconds']:.2f} s", ratio),
            ("fanout", "per-namespace latency from the edit", _latency(fan.get("latency")), ""),
        ]  # fmt: skip
    for key, drift in (s.get("drift") or {}).items():
        if key == "report" and isinstance(drift, dict):
            rows.append(
                ("drift", f"Report mode: visible on /metrics ({drift['visible']}/"
                 f"{drift['trials']})", _latency(drift.get("latency")), "")
            )  # fmt: skip
        elif isinstance(drift, dict) and "latency" in drift:
            rows.append(
                ("drift", f"Repair: {drift['action']} in {drift['namespaces']} ns "
                 f"({drift['repaired']} repaired)", _latency(drift["latency"]), "")
            )  # fmt: skip
            if drift.get("repair_after_seen_latency", {}).get("count", 0) > 1:
                rows.append(
                    ("drift", f"of which: {drift['action']} sent -> seen in the watch / "
                     "seen -> repaired", f"p99 {drift['drift_seen_latency']['p99'] * 1000:.0f} "
                     f"ms / p99 {drift['repair_after_seen_latency']['p99'] * 1000:.0f} ms", "")
                )  # fmt: skip
    rows.extend(_guardrail_rows(s.get("guardrails")))
    steady = s.get("steady")
    if steady and "seconds" in steady:
        cpu = (steady["window"].get("operator_cpu") or {}).get("cpu_seconds")
        rows += [
            ("steady", f"{steady['seconds']:.0f} s, {steady['in_sync']} ns in sync: writes "
             "(netiso / API server)",
             f"{_fmt(steady['netiso_writes'])} / {_fmt(steady['apiserver_writes'])}", ""),
            ("steady", "reads per minute (netiso / API server, netiso resources)",
             f"{_fmt(steady['netiso_reads_per_minute'])} / "
             f"{_fmt(steady['apiserver_reads_per_minute'])}", ""),
            ("steady", "operator CPU over the window", _fmt(cpu, " s"), ""),
        ]  # fmt: skip
    rows.extend(_dependency_rows(s.get("dependencies")))
    for restart in (s.get("restart") or {}).values():
        if isinstance(restart, dict) and "ready_seconds" in restart:
            ready = restart["ready_seconds"]
            ready_text = (
                f"{ready:.2f} s"
                if ready is not None
                else f"not ready in {restart['ready_within_seconds']:.0f} s"
            )
            rows.append(
                ("restart", f"{restart['signal']}: ready / writes (netiso / API server)",
                 f"{ready_text} / {_fmt(restart['netiso_writes'])} / "
                 f"{_fmt(restart['apiserver_writes'])}", "")
            )  # fmt: skip
    rows.extend(_failover_rows(s.get("failover")))
    rows.extend(_sharded_rows(s.get("sharded")))
    res = s.get("resources")
    if res and res.get("samples"):
        for label, reading in res["samples"].items():
            rows.append(
                ("resources", f"operator {label}",
                 f"RSS {reading['rss_mib']:.0f} MiB, CPU {reading['cpu_seconds']:.1f} s total",
                 "")
            )  # fmt: skip
        rows.append(
            ("resources", "operator peak RSS (VmHWM)", f"{res['peak_rss_mib']:.0f} MiB", "")
        )
    return rows


def _guardrail_rows(guard: Any) -> list[tuple[str, str, str, str]]:
    if not isinstance(guard, dict) or "populate" not in guard:
        return []
    made = guard["populate"]
    window = made["window"]
    cpu = (window.get("operator_cpu") or {}).get("cpu_seconds")
    rows = [
        ("guardrails", f"{made['policies']} foreign policies in {made['namespaces']} ns: "
         "created / all counted", f"{made['create_seconds']:.2f} s / "
         f"{made['seconds_until_counted']:.2f} s", ""),
        ("guardrails", "meanwhile: operator CPU / writes by verb",
         f"{_fmt(cpu, ' s')} / {window.get('netiso_requests_by_verb', {})}", ""),
    ]  # fmt: skip
    trial = guard.get("report")
    if isinstance(trial, dict):
        rows += [
            ("guardrails", f"violation visible on /metrics ({trial['visible']}/"
             f"{trial['trials']})", _latency(trial.get("latency_shown")), ""),
            ("guardrails", "violation gone after the delete",
             _latency(trial.get("latency_cleared")), ""),
        ]  # fmt: skip
    return rows


def _failover_rows(failover: Any) -> list[tuple[str, str, str, str]]:
    if not isinstance(failover, dict) or "steady_two_replicas" not in failover:
        return []
    steady = failover["steady_two_replicas"]
    rows = []
    for replica in steady["replicas"]:
        role = "leader" if replica["leader"] else "standby"
        leases = ", ".join(f"{v} {n}" for v, n in replica["lease_requests_by_verb"].items())
        rows.append(
            ("failover", f"{steady['seconds']:.0f} s steady, {role}: writes / Lease requests",
             f"{replica['netiso_writes']} / {leases or 'none'}", "")
        )  # fmt: skip
    rows.append(("failover", "steady: API server writes", _fmt(steady["apiserver_writes"]), ""))
    for kind in ("sigkill", "sigterm"):
        hand = failover.get(kind) or {}
        if "new_leader_seconds" in hand:
            rows.append(
                ("failover", f"{hand['signal']}: new leader / its first write",
                 f"{_fmt(hand['new_leader_seconds'], ' s')} / "
                 f"{_fmt(hand['first_write_seconds'], ' s')}",
                 f"{hand['isolated']}/{hand['namespaces_opted_in_after_exit']} isolated")
            )  # fmt: skip
    return rows


def _sharded_rows(sharded: Any) -> list[tuple[str, str, str, str]]:
    if not isinstance(sharded, dict) or "replicas" not in sharded:
        return []
    cpu = ", ".join(
        f"shard {'/'.join(r['shards']) or '-'}: {r['cpu_seconds']} s" for r in sharded["replicas"]
    )
    races = sum(r["create_conflicts"] for r in sharded["replicas"])
    return [
        ("sharded", f"{sharded['shards']} shards, {sharded['isolated']}/{sharded['namespaces']} "
         "isolated, create -> all", f"{sharded['seconds']:.2f} s",
         f"{sharded['namespaces_per_second']} ns/s"),
        ("sharded", "CPU per replica", cpu, ""),
        ("sharded", "AlreadyExists races / merged status (namespaces, in sync)",
         f"{races} / {sharded['status_namespaces']}, {sharded['status_in_sync']}", ""),
    ]  # fmt: skip


def _code(starts: list[dict[str, Any]]) -> str:
    """Which operator code the run measured: one commit, or each start's if they differ."""
    texts = []
    for start in starts:
        text = start["commit"]
        if start["dirty_files"]:
            text += f" + uncommitted {', '.join(start['dirty_files'])} ({start['diff_sha256']})"
        texts.append(text)
    unique = list(dict.fromkeys(texts))
    if len(unique) <= 1:
        return unique[0] if unique else "n/a"
    return "; ".join(f"start {i + 1}: {t}" for i, t in enumerate(texts))


def markdown(report: dict[str, Any]) -> str:
    machine = report["machine"]
    config = report["config"]
    lines = [
        f"# netiso benchmark: N = {config['n']}",
        "",
        f"Run {report['run_id']} on {report['started']} ({report['duration_seconds']:.0f} s), "
        f"cluster: {report['cluster']}.",
        "",
        "| Machine | |",
        "| --- | --- |",
        f"| CPU | {machine['cores']} cores, {machine['cpu']} |",
        f"| Memory | {machine['memory_gib']} GiB |",
        f"| Kernel / Python | {machine['kernel']} / {machine['python']} |",
        f"| Kubernetes / etcd | {machine.get('kubernetes', '?')} / {machine.get('etcd', '?')} |",
        f"| netiso / kopf / aiohttp | {machine['netiso']} / {machine['kopf']} / "
        f"{machine['aiohttp']} |",
        f"| Operator code | {_code(report.get('operator_code') or [])} |",
        f"| Load average (1/5/15 min) at start / end | {_load(machine)} |",
        f"| Operator settings | NETISO_MAX_CONCURRENCY={config['concurrency']}, resync "
        f"{config['resync_interval'] or 'default'}, status interval 5 s |",
        "",
        "## Targets",
        "",
        "| Target | Measured | Met |",
        "| --- | --- | --- |",
    ]
    for target in report["targets"]:
        met = {True: "yes", False: "**no**", None: "not measured"}[target["met"]]
        lines.append(f"| {target['text']} | {_fmt(target['value'], target['unit'])} | {met} |")
    lines += [
        "",
        "## Scenarios",
        "",
        "| Scenario | Measure | Value | Ratio to raw |",
        "| --- | --- | --- | --- |",
    ]
    lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in _rows(report)]
    profiles: dict[str, dict[str, Any]] = {}
    for name, node in report.get("scenarios", {}).items():
        if not isinstance(node, dict):
            continue
        if isinstance(node.get("profile"), dict):
            profiles[name] = node["profile"]
        # restart keeps one profile per restarted process.
        for key, child in node.items():
            if isinstance(child, dict) and isinstance(child.get("profile"), dict):
                profiles[f"{name} ({key})"] = child["profile"]
    for name, profile in profiles.items():
        if not profile.get("samples"):
            continue
        lines += [
            "",
            f"## Operator profile during {name} (py-spy, {profile['samples']} samples)",
            "",
            "| Own time | Function | | Inclusive | Function |",
            "| --- | --- | --- | --- | --- |",
        ]
        for own, inclusive in zip(profile["self"][:12], profile["inclusive"][:12], strict=False):
            lines.append(
                f"| {own['percent']}% | `{own['function']}` | | {inclusive['percent']}% | "
                f"`{inclusive['function']}` |"
            )
        shares = ", ".join(f"{p['package']} {p['percent']}%" for p in profile["packages"][:10])
        lines += ["", f"Own time by package: {shares}."]
    if report.get("errors"):
        lines += ["", "## Errors", ""] + [f"- {e}" for e in report["errors"]]
    return "\n".join(lines) + "\n"


def _load(machine: dict[str, Any]) -> str:
    load = machine.get("load_average")
    if not isinstance(load, dict):
        return "n/a"
    return " / ".join(", ".join(f"{v:.2f}" for v in load[k]) for k in ("start", "end"))


def _drift_p99(report: dict[str, Any], action: str) -> float | None:
    rounds = [
        r
        for r in (_get(report, "drift") or {}).values()
        if isinstance(r, dict) and r.get("action") == action and r.get("latency", {}).get("count")
    ]
    if not rounds:
        return None
    biggest = max(rounds, key=lambda r: r["namespaces"])
    return float(biggest["latency"]["p99"])


def _cpu_per_namespace(report: dict[str, Any], scenario: str) -> float | None:
    node = _get(report, scenario)
    if not isinstance(node, dict) or "window" not in node:
        return None
    cpu = (node["window"].get("operator_cpu") or {}).get("cpu_seconds")
    count = node.get("namespaces")
    return round(1000 * cpu / count, 2) if cpu is not None and count else None


def _foreign(report: dict[str, Any], scenario: str) -> float | None:
    node = _get(report, scenario)
    if not isinstance(node, dict):
        return None
    windows = [node.get("window")] + [
        child.get("window") for child in node.values() if isinstance(child, dict)
    ]
    values = [w["machine"]["foreign_cores"] for w in windows if isinstance(w, dict)]
    return max(values) if values else None


def summary(report: dict[str, Any]) -> list[tuple[str, Any, str]]:
    """The figures a before/after comparison shows: (measure, value, unit)."""
    return [
        ("bootstrap, opt-in of existing namespaces: ratio to raw", _get(report, "optin",
         "ratio_to_raw"), "x"),
        ("bootstrap, create and label: ratio to raw (create bound)", _get(report, "bootstrap",
         "ratio_to_raw"), "x"),
        ("bootstrap, create and label: seconds", _get(report, "bootstrap", "seconds"), " s"),
        ("operator CPU per namespace, create-and-label bootstrap",
         _cpu_per_namespace(report, "bootstrap"), " ms"),
        ("operator CPU per namespace, opt-in bootstrap", _cpu_per_namespace(report, "optin"),
         " ms"),
        ("fan-out: ratio to raw (one replace per namespace)", _get(report, "fanout",
         "ratio_to_raw_apply_one"), "x"),
        ("drift repair p99, edit", _drift_p99(report, "edit"), " s"),
        ("drift repair p99, delete", _drift_p99(report, "delete"), " s"),
        ("writes at steady state (netiso + API server)", _sum_writes(report, "steady"), ""),
        ("operator peak RSS", _get(report, "resources", "peak_rss_mib"), " MiB"),
        ("other work on the machine during bootstrap / drift (foreign cores, max)",
         f"{_fmt(_foreign(report, 'bootstrap'))} / {_fmt(_foreign(report, 'drift'))}", ""),
        ("load average (1/5/15 min) at start / end", _load(report["machine"]), ""),
    ]  # fmt: skip


def comparison(*, before: dict[str, Any], after: dict[str, Any]) -> str:
    """A Markdown table of the baseline's and the work tree's figures, same run."""
    lines = [
        f"## Before and after: N = {after['config']['n']}, same machine, same benchmark run",
        "",
        f"Before: operator at {_code(before.get('operator_code') or [])} (run "
        f"{before['run_id']}, started {before['started']}). After: operator at "
        f"{_code(after.get('operator_code') or [])} (run {after['run_id']}, started "
        f"{after['started']}). Both measured by the same benchmark code, one after the other, "
        "each on a fresh local control plane.",
        "",
        "| Measure | Before | After |",
        "| --- | --- | --- |",
    ]
    for (measure, old, unit), (_, new, _) in zip(summary(before), summary(after), strict=True):
        lines.append(f"| {measure} | {_fmt(old, unit)} | {_fmt(new, unit)} |")
    errors = [f"before: {e}" for e in before.get("errors") or []]
    errors += [f"after: {e}" for e in after.get("errors") or []]
    if errors:
        lines += ["", "Errors:", ""] + [f"- {e}" for e in errors]
    return "\n".join(lines) + "\n"


def _write_text(path: Path, content: str) -> Path:
    scratch = path.with_suffix(path.suffix + ".tmp")
    scratch.write_text(content)
    scratch.replace(path)
    return path


def write_pair(*, before: dict[str, Any], after: dict[str, Any], options: Options) -> list[Path]:
    """Write a before/after run: `<date>-n<N>-before.*`, `-after.*`, `-before-after.md`, and
    latest.* (the work tree's run, with the comparison)."""
    options.out.mkdir(parents=True, exist_ok=True)
    stem = f"{datetime.now(UTC).strftime('%Y-%m-%d')}-n{options.n}"
    compared = comparison(before=before, after=after)
    latest = {**after, "baseline": before}
    written = []
    for name, report, extra in (
        (f"{stem}-before", before, ""),
        (f"{stem}-after", after, ""),
        ("latest", latest, compared),
    ):
        text = json.dumps(report, indent=2, sort_keys=False) + "\n"
        md = markdown(report)
        if extra:
            title, _, rest = md.partition("\n\n")
            md = f"{title}\n\n{extra}\n{rest}"
        written.append(_write_text(options.out / f"{name}.json", text))
        written.append(_write_text(options.out / f"{name}.md", md))
    written.append(_write_text(options.out / f"{stem}-before-after.md", compared))
    return written


def write(report: dict[str, Any], options: Options) -> list[Path]:
    """Write latest.json and latest.md (and dated copies for large runs); returns the paths."""
    options.out.mkdir(parents=True, exist_ok=True)
    text = json.dumps(report, indent=2, sort_keys=False) + "\n"
    md = markdown(report)
    stems = ["latest"]
    if options.keep_dated_copy:
        stamp = datetime.now(UTC).strftime("%Y-%m-%d")
        stems.append(f"{stamp}-n{options.n}")
    written = []
    for stem in stems:
        for suffix, content in ((".json", text), (".md", md)):
            path = options.out / f"{stem}{suffix}"
            scratch = path.with_suffix(suffix + ".tmp")
            scratch.write_text(content)
            scratch.replace(path)
            written.append(path)
    return written


def _dependency_rows(deps: Any) -> list[tuple[str, str, str, str]]:
    """The dependency tracker's windows: operator CPU and writes, and the flips' lag."""
    if not isinstance(deps, dict) or "quiet" not in deps:
        return []
    rows = []
    for name in ("quiet", "churn", "flips"):
        window = deps[name]
        cpu = (window.get("operator_cpu") or {}).get("cpu_seconds")
        what = {
            "quiet": "DNS namespace quiet",
            "churn": f"DNS pod churn ({window.get('pod_writes_sent')} pod writes)",
            "flips": f"DNS readiness flips ({window.get('flips')})",
        }[name]
        rows.append(
            ("dependencies", f"{window['seconds']:.0f} s, {what}: operator CPU / writes "
             "(netiso / API server)",
             f"{_fmt(cpu, ' s')} / {_fmt(window['netiso_writes'])} / "
             f"{_fmt(window['apiserver_writes_on_netiso_resources'])}", "")
        )  # fmt: skip
    flips = deps["flips"]
    if flips.get("lag_seconds", {}).get("count"):
        rows.append(
            ("dependencies", "flip -> condition on the profile",
             _latency(flips["lag_seconds"]), "")
        )  # fmt: skip
    return rows
