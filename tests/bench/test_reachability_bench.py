"""The reachability benchmark end to end at a tiny size: the generator's cluster gives the
answers its design implies, and the script reports every figure.

No timing thresholds: the targets are judged on real runs (bench/results/reachability-*).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NAMESPACES = 3


def test_the_benchmark_runs_and_the_generated_cluster_has_the_designed_answers() -> None:
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "reachability.py"),
            "--namespaces",
            str(NAMESPACES),
            "--explains",
            "5",
            "--repeats",
            "1",
            "--dumps",
            "30:10",
            "--no-write",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
        cwd=ROOT,
    )
    run = json.loads(result.stdout.splitlines()[0])
    assert run["pods"] == 5 * NAMESPACES + 3
    # Per namespace: 5 in-namespace calls (web->api, backends->data), DNS for its 5 pods,
    # ingress-nginx and Prometheus to its 5 pods; plus 6 among the 3 open platform pods.
    assert run["connections"] == 20 * NAMESPACES + 6
    for figure in ("matrix_seconds", "matrix_cpu_seconds", "peak_rss_mib", "explain_ms_p99"):
        assert run[figure] > 0
    assert "| Namespaces |" in result.stdout
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    dump, bomb = lines[-2:]
    assert (dump["policies"], dump["pods"], dump["objects"]) == (30, 10, 1040)
    assert dump["matrix_seconds"] > 0
    assert dump["peak_rss_mib"] > 0
    assert bomb["exit_status"] == 2
    assert "aliases expand to more than 100000 nodes" in bomb["message"]
    assert "| alias bomb |" in result.stdout
