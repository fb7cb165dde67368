"""Reachability benchmark: `netiso matrix -o json` end to end and `explain` after loading.

Run: `.venv/bin/python bench/reachability.py [--namespaces 100,1000] [--explains 200]`.
Generates inputs with bench/reachability_inputs.py, runs the real `netiso` command in a
subprocess (wall time includes Python start-up and reading the YAML; peak RSS from the child's
rusage), then loads once in-process and times single explain queries. Writes
bench/results/reachability-latest.{md,json} and a dated copy.
"""

from __future__ import annotations

import argparse
import datetime
import io
import json
import platform
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Final

ROOT: Final = Path(__file__).resolve().parents[1]
RESULTS: Final = ROOT / "bench" / "results"
# Targets from the issue, on 2 cores.
TARGET_SECONDS: Final = {100: 0.5, 1000: 10.0}
TARGET_RSS_MIB: Final = 500
TARGET_EXPLAIN_MS: Final = 50


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--namespaces", default="100,1000", help="comma-separated N values")
    parser.add_argument("--explains", type=int, default=200, help="explain queries per N")
    parser.add_argument("--repeats", type=int, default=3, help="matrix runs per N (best kept)")
    parser.add_argument("--no-write", action="store_true", help="print only")
    parser.add_argument(
        "--dumps",
        default="3000:3000,100000:3000",
        help="cluster dumps as POLICIES:PODS, comma-separated ('' for none): one kubectl List "
        "each, read by `netiso matrix -f`, plus the 49 KB alias bomb",
    )
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT / "operator"))
    sys.path.insert(0, str(ROOT))
    from bench.reachability_inputs import generate

    runs = []
    for count in (int(value) for value in args.namespaces.split(",") if value):
        with tempfile.TemporaryDirectory(prefix="netiso-reach-") as scratch:
            directory = Path(scratch) / "inputs"
            objects = generate(directory, namespaces=count)
            size = sum(file.stat().st_size for file in directory.iterdir())
            run = {"namespaces": count, "objects": objects, "input_mib": size / 2**20}
            run.update(_matrix_runs(directory, repeats=args.repeats))
            # The same objects as one JSON List: how much of the time is reading YAML.
            as_json = Path(scratch) / "inputs.json"
            _write_json_list(directory, as_json)
            json_run = _matrix_runs(as_json, repeats=args.repeats)
            run["matrix_seconds_json_input"] = json_run["matrix_seconds"]
            run.update(_explain_runs(directory, queries=args.explains, namespaces=count))
            runs.append(run)
            print(json.dumps(run), flush=True)
    dumps = [_dump_run(value) for value in args.dumps.split(",") if value]
    if args.dumps:
        dumps.append(_bomb_run())
    when = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    report: dict[str, Any] = {
        "when": when,
        "machine": _machine(),
        "runs": runs,
        "dumps": dumps,
    }
    markdown = _markdown(report)
    print(markdown)
    if not args.no_write:
        RESULTS.mkdir(exist_ok=True)
        day = when[:10]
        for stem in ("reachability-latest", f"{day}-reachability"):
            (RESULTS / f"{stem}.json").write_text(json.dumps(report, indent=2) + "\n")
            (RESULTS / f"{stem}.md").write_text(markdown)
    return 0


def _matrix_runs(directory: Path, *, repeats: int) -> dict[str, Any]:
    """Best-of wall time and the peak RSS of `netiso matrix -f DIR -o json`."""
    command = [sys.executable, "-m", "netiso.cli.app", "matrix", "-f", str(directory), "-o", "json"]
    times = []
    peak = 0.0
    summary: dict[str, Any] = {}
    cpu = []
    for _ in range(repeats):
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        before = usage.ru_maxrss
        cpu_before = usage.ru_utime + usage.ru_stime
        started = time.perf_counter()
        result = subprocess.run(
            command, capture_output=True, check=True, cwd=ROOT, env=_env(), text=True
        )
        times.append(time.perf_counter() - started)
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu.append(usage.ru_utime + usage.ru_stime - cpu_before)
        peak = max(
            peak, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, before / 1024
        )
        body = json.loads(result.stdout)
        summary = {
            "pods": len(body["pods"]),
            "connections": len(body["connections"]),
            "external_entries": len(body["external"]),
            "json_mib": len(result.stdout) / 2**20,
        }
    return summary | {
        "matrix_seconds": min(times),
        "matrix_seconds_all": times,
        # CPU seconds of the command (both processes when it reads in two): what the run
        # costs, less disturbed than wall time when other work shares the cores.
        "matrix_cpu_seconds": min(cpu),
        "peak_rss_mib": peak,
    }


def _timed(command: list[str]) -> tuple[subprocess.CompletedProcess[str], float, float]:
    """Run a command; its result, wall seconds and peak RSS in MiB (the child's own)."""
    started = time.perf_counter()
    # A child of its own so that ru_maxrss is this command's peak, not the largest so far.
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import resource, subprocess, sys; "
            "result = subprocess.run(sys.argv[1:]); "
            "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr); "
            "sys.exit(result.returncode)",
            *command,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=ROOT,
        env=_env(),
        text=True,
    )
    out, err = process.communicate()
    seconds = time.perf_counter() - started
    *messages, peak = err.splitlines() or ["0"]
    result = subprocess.CompletedProcess(command, process.returncode, out, "\n".join(messages))
    return result, seconds, int(peak) / 1024


def _dump_run(value: str) -> dict[str, Any]:
    """`netiso matrix -f DUMP -o json` on one generated kubectl List: wall time, peak RSS."""
    from bench.dump_inputs import write_dump

    policies, pods = (int(part) for part in value.split(":"))
    with tempfile.TemporaryDirectory(prefix="netiso-dump-") as scratch:
        path = Path(scratch) / "dump.yaml"
        objects = write_dump(path, policies=policies, pods=pods)
        size = path.stat().st_size
        command = [sys.executable, "-m", "netiso.cli.app", "matrix", "-f", str(path), "-o", "json"]
        result, seconds, peak = _timed(command)
    if result.returncode != 0:
        raise RuntimeError(f"matrix failed on the {value} dump: {result.stderr}")
    run = {
        "dump": value,
        "policies": policies,
        "pods": pods,
        "objects": objects,
        "input_mib": size / 2**20,
        "matrix_seconds": seconds,
        "peak_rss_mib": peak,
    }
    print(json.dumps(run), flush=True)
    return run


def _bomb_run() -> dict[str, Any]:
    """The 49 KB alias bomb: refused (exit 2), in how long and how much memory."""
    from bench.dump_inputs import write_alias_bomb

    with tempfile.TemporaryDirectory(prefix="netiso-bomb-") as scratch:
        path = Path(scratch) / "bomb.yaml"
        write_alias_bomb(path)
        size = path.stat().st_size
        result, seconds, peak = _timed(
            [sys.executable, "-m", "netiso.cli.app", "matrix", "-f", str(path)]
        )
    run = {
        "dump": "alias bomb",
        "input_mib": size / 2**20,
        "exit_status": result.returncode,
        "message": result.stderr.strip(),
        "matrix_seconds": seconds,
        "peak_rss_mib": peak,
    }
    print(json.dumps(run), flush=True)
    return run


def _write_json_list(directory: Path, target: Path) -> None:
    import yaml

    items = [
        body
        for file in sorted(directory.iterdir())
        for body in yaml.load_all(file.read_text(), Loader=yaml.CSafeLoader)
    ]
    target.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": items}))


def _env() -> dict[str, str]:
    import os

    return os.environ | {"PYTHONPATH": str(ROOT / "operator")}


def _explain_runs(directory: Path, *, queries: int, namespaces: int) -> dict[str, Any]:
    """Load once in-process, then time single explain queries between random workloads."""
    from netiso.cli.explaining import explain, resolve_query
    from netiso.cli.gathering import read_paths
    from netiso.cli.matrices import write_json
    from netiso.reachability.indexing import compute_matrix
    from netiso.reachability.snapshots import make_snapshot

    started = time.perf_counter()
    objects = read_paths([directory])
    snapshot = make_snapshot(
        namespaces=objects.namespaces, pods=objects.pods, policies=objects.policies
    )
    load_seconds = time.perf_counter() - started
    started = time.perf_counter()
    write_json(compute_matrix(snapshot), range(len(snapshot.pods)), stream=io.StringIO())
    engine_seconds = time.perf_counter() - started
    chooser = random.Random(11)
    pods = [pod.key for pod in snapshot.pods]
    durations = []
    for _ in range(queries):
        source, destination = chooser.sample(pods, 2)
        port = chooser.choice(["8080/TCP", "53/UDP", "5432", "443/TCP"])
        started = time.perf_counter()
        query = resolve_query(snapshot, source=source, destination=destination, port=port)
        explain(snapshot, query)
        durations.append((time.perf_counter() - started) * 1000)
    durations.sort()
    return {
        "load_seconds_in_process": load_seconds,
        # The engine alone: every pair and external range, and the JSON text, in-process.
        "engine_seconds": engine_seconds,
        "explain_ms_median": statistics.median(durations),
        "explain_ms_p99": durations[max(0, int(len(durations) * 0.99) - 1)],
        "explain_ms_max": durations[-1],
    }


def _machine() -> dict[str, str]:
    import os

    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "load_average": " ".join(f"{value:.1f}" for value in os.getloadavg()),
        "cpus": str(os.cpu_count()),
        "cpu": cpu,
        "python": platform.python_version(),
        "commit": subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT
        ).stdout.strip(),
    }


def _markdown(report: dict[str, Any]) -> str:
    machine = report["machine"]
    lines = [
        "# netiso reachability benchmark",
        "",
        f"Run on {report['when']} at commit {machine['commit']}: {machine['cpus']} cores "
        f"({machine['cpu']}), Python {machine['python']}, load average at the end "
        f"{machine['load_average']} (other work shared the cores). "
        "`netiso matrix -f DIR -o json` in a subprocess (best of the runs; includes start-up "
        "and reading the YAML), then single `explain` queries after loading once.",
        "",
        "| Namespaces | Workloads | Policies | Input | matrix -o json (wall) | Target | CPU | "
        "Same input as one JSON List | Reading (in-process) | Engine + JSON (in-process) | "
        "Peak RSS | Connections | Explain median / p99 / max |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for run in report["runs"]:
        count = run["namespaces"]
        target = TARGET_SECONDS.get(count)
        met = (
            ""
            if target is None
            else (" (met)" if run["matrix_seconds"] < target else " (**missed**)")
        )
        lines.append(
            f"| {count} | {run['pods']} | {6 * count} | {run['input_mib']:.1f} MiB | "
            f"{run['matrix_seconds']:.2f} s{met} | {'' if target is None else f'< {target} s'} | "
            f"{run['matrix_cpu_seconds']:.2f} s | {run['matrix_seconds_json_input']:.2f} s | "
            f"{run['load_seconds_in_process']:.2f} s | {run['engine_seconds']:.2f} s | "
            f"{run['peak_rss_mib']:.0f} MiB (target < {TARGET_RSS_MIB}) | {run['connections']} | "
            f"{run['explain_ms_median']:.2f} / {run['explain_ms_p99']:.2f} / "
            f"{run['explain_ms_max']:.2f} ms (target < {TARGET_EXPLAIN_MS}) |"
        )
    if report.get("dumps"):
        lines += [
            "",
            "Cluster dumps: `netiso matrix -f dump.yaml -o json` on one `kubectl get -o yaml` "
            "List (1,000 namespaces), in a subprocess; wall time includes start-up, peak RSS is "
            "the command's own.",
            "",
            "| Dump | Input | Wall | Peak RSS | Outcome |",
            "| --- | --- | --- | --- | --- |",
        ]
        for run in report["dumps"]:
            outcome = (
                f"refused (exit {run['exit_status']}): {run['message']}"
                if "exit_status" in run
                else f"{run['policies']:,} policies, {run['pods']:,} pods"
            )
            lines.append(
                f"| {run['dump']} | {run['input_mib']:.2f} MiB | {run['matrix_seconds']:.2f} s | "
                f"{run['peak_rss_mib']:.0f} MiB | {outcome} |"
            )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
