"""The benchmark suite end to end at N=20, as CI runs it: every scenario runs and reports sane
numbers (everything isolated, counts equal N, writes at steady state and after restart are 0).

No timing thresholds: CI machines vary; the targets are judged on real runs (bench/README.md).
Runs `python -m bench` in a subprocess exactly as a developer would; with
NETISO_TEST_USE_EXISTING_CLUSTER=1 it targets $KUBECONFIG instead of a local control plane.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from bench.options import SCENARIOS

ROOT = Path(__file__).resolve().parents[2]
N = 20
TRICKLE = 5
REPORT_TRIALS = 3
RAW_CONCURRENCIES = [8, 32]

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    out = tmp_path_factory.mktemp("bench-results")
    command = [
        sys.executable,
        "-m",
        "bench",
        f"--n={N}",
        f"--out={out}",
        f"--logs={out / 'logs'}",
        "--steady-seconds=15",
        "--dependencies-seconds=10",
        "--restart-settle=3",
        "--failover-steady-seconds=6",
        f"--trickle-count={TRICKLE}",
        f"--report-trials={REPORT_TRIALS}",
        "--drift-sizes=1,10",
        f"--raw-concurrencies={','.join(map(str, RAW_CONCURRENCIES))}",
    ]
    if os.environ.get("NETISO_TEST_USE_EXISTING_CLUSTER", "") not in ("", "0", "false"):
        command.append(f"--kubeconfig={os.environ['KUBECONFIG']}")
    done = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=540, check=False
    )
    assert done.returncode == 0, f"python -m bench failed:\n{done.stdout}\n{done.stderr[-8000:]}"
    return out, json.loads((out / "latest.json").read_text())


def test_results_are_written_as_json_and_markdown(run: tuple[Path, dict[str, Any]]) -> None:
    out, report = run
    markdown = (out / "latest.md").read_text()
    assert f"# netiso benchmark: N = {N}" in markdown
    assert "| Target | Measured | Met |" in markdown
    # Small runs do not keep dated copies; only the two latest files (and the logs dir).
    assert sorted(p.name for p in out.iterdir() if p.is_file()) == ["latest.json", "latest.md"]
    assert report["errors"] == []
    assert report["machine"]["cores"] >= 1
    assert report["machine"]["kubernetes"].startswith("v")


def test_every_scenario_is_reported(run: tuple[Path, dict[str, Any]]) -> None:
    _, report = run
    assert set(SCENARIOS) <= set(report["scenarios"])
    for name in SCENARIOS:
        assert "error" not in report["scenarios"][name], report["scenarios"][name]
    assert {t["target"] for t in report["targets"] if t["met"] is None} == set()


def test_raw_bound_sends_netisos_verbs_at_its_best_concurrency(
    run: tuple[Path, dict[str, Any]],
) -> None:
    raw = run[1]["scenarios"]["raw"]
    assert raw["namespaces"] == N
    assert raw["policies"] == 4 * N
    # Creates, as netiso bootstraps; never a server-side apply.
    assert raw["window"]["apiserver_writes_by_verb"] == {"POST networkpolicies": 4 * N}
    trials = raw["trials"]
    assert [t["concurrency"] for t in trials] == RAW_CONCURRENCIES
    assert raw["seconds"] == min(t["create_seconds"] for t in trials) > 0
    assert raw["apply_one_seconds"] == min(t["replace_one_seconds"] for t in trials) > 0


def test_opting_in_existing_namespaces_isolates_them_and_opting_out_clears_them(
    run: tuple[Path, dict[str, Any]],
) -> None:
    optin = run[1]["scenarios"]["optin"]
    assert (optin["namespaces"], optin["isolated"], optin["complete"]) == (N, N, True)
    assert optin["latency"]["count"] == N
    assert optin["ratio_to_raw"] > 0
    # The raw bound's namespaces, labelled: nothing created inside the measured window.
    assert optin["namespaces_created_untimed_seconds"] is None
    assert optin["opted_out_policies_removed"] is True


def test_every_namespace_was_isolated_and_updated(run: tuple[Path, dict[str, Any]]) -> None:
    scenarios = run[1]["scenarios"]
    bootstrap, trickle, fanout = scenarios["bootstrap"], scenarios["trickle"], scenarios["fanout"]
    assert (bootstrap["namespaces"], bootstrap["isolated"], bootstrap["complete"]) == (N, N, True)
    assert bootstrap["latency"]["count"] == N
    assert bootstrap["ratio_to_raw"] > 0
    assert (trickle["isolated"], trickle["latency"]["count"]) == (TRICKLE, TRICKLE)
    assert (fanout["namespaces"], fanout["updated"], fanout["complete"]) == (N, N, True)
    for latency in (bootstrap["latency"], trickle["latency"], fanout["latency"]):
        assert 0 < latency["p50"] <= latency["p99"] <= latency["max"]


def test_every_drift_was_repaired_or_reported(run: tuple[Path, dict[str, Any]]) -> None:
    drift = run[1]["scenarios"]["drift"]
    rounds = {key: value for key, value in drift.items() if key.startswith("repair_")}
    assert set(rounds) == {"repair_delete_1", "repair_delete_10", "repair_edit_10"}
    for result in rounds.values():
        assert result["repaired"] == result["namespaces"], result
        assert result["drift_seen_latency"]["count"] == result["namespaces"], result
    report = drift["report"]
    assert (report["visible"], report["missed"]) == (REPORT_TRIALS, [])
    assert report["restored_after_switch_to_repair"] is True


def test_foreign_policies_are_evaluated_and_never_written(
    run: tuple[Path, dict[str, Any]],
) -> None:
    guardrails = run[1]["scenarios"]["guardrails"]
    assert guardrails["foreign_per_namespace"] == 2
    populate = guardrails["populate"]
    assert (populate["namespaces"], populate["policies"], populate["complete"]) == (
        N,
        2 * N,
        True,
    )
    # netiso's only creates: two Warning Events per namespace, Excepted (the namespace's
    # state) and GuardrailException (the excepted policy). Nothing is updated or deleted (a
    # status patch may land).
    verbs = populate["window"]["netiso_requests_by_verb"]
    assert verbs.get("create", 0) == 2 * N, verbs
    assert set(verbs) <= {"create", "get", "list", "patch", "watch"}, verbs
    report = guardrails["report"]
    assert (report["visible"], report["missed"]) == (REPORT_TRIALS, [])
    assert report["latency_cleared"]["count"] == REPORT_TRIALS


def test_steady_state_and_restarts_write_nothing(run: tuple[Path, dict[str, Any]]) -> None:
    scenarios = run[1]["scenarios"]
    steady = scenarios["steady"]
    assert steady["in_sync"] == N
    assert (steady["netiso_writes"], steady["apiserver_writes"]) == (0, 0)
    for kind in ("sigterm", "sigkill"):
        restart = scenarios["restart"][kind]
        assert restart["ready_seconds"] > 0
        assert restart["in_sync"] == N
        assert (restart["netiso_writes"], restart["apiserver_writes"]) == (0, 0), restart
    assert scenarios["restart"]["sigterm"]["exit_code"] == 0


def test_two_replicas_write_nothing_but_renewals_and_hand_over(
    run: tuple[Path, dict[str, Any]],
) -> None:
    failover = run[1]["scenarios"]["failover"]
    steady = failover["steady_two_replicas"]
    assert [r["netiso_writes"] for r in steady["replicas"]] == [0, 0]
    assert steady["apiserver_writes"] == 0
    leader, standby = steady["replicas"]
    assert (leader["leader"], standby["leader"]) == (True, False)
    assert leader["lease_requests_by_verb"].get("update", 0) > 0
    assert set(standby["lease_requests_by_verb"]) <= {"get"}
    for kind in ("sigkill", "sigterm"):
        hand_over = failover[kind]
        assert hand_over["complete"], hand_over
        assert hand_over["isolated"] == hand_over["namespaces_opted_in_after_exit"]
        assert hand_over["new_leader_seconds"] is not None, hand_over
        assert hand_over["first_write_seconds"] is not None, hand_over
    assert failover["sigterm"]["exit_code"] == 0


def test_shards_isolate_every_namespace_once_and_merge_the_status(
    run: tuple[Path, dict[str, Any]],
) -> None:
    sharded = run[1]["scenarios"]["sharded"]
    assert (sharded["isolated"], sharded["complete"]) == (N, True), sharded
    assert sorted(len(r["shards"]) for r in sharded["replicas"]) == [1, 1]
    assert [r["create_conflicts"] for r in sharded["replicas"]] == [0, 0]
    assert (sharded["status_namespaces"], sharded["status_in_sync"]) == (N, N)


def test_resources_were_sampled_and_everything_cleaned_up(
    run: tuple[Path, dict[str, Any]],
) -> None:
    report = run[1]
    resources = report["scenarios"]["resources"]
    assert {"idle", f"after bootstrap of {N}", "after steady"} <= set(resources["samples"])
    assert 0 < resources["samples"]["idle"]["rss_mib"] <= resources["peak_rss_mib"]
    assert report["cleanup"]["operator_exit_code"] == 0
    assert report["cleanup"]["profiles_force_released"] == 0


def test_dependency_tracking_writes_only_when_what_it_says_changes(
    run: tuple[Path, dict[str, Any]],
) -> None:
    deps = run[1]["scenarios"]["dependencies"]
    assert deps["quiet"]["netiso_writes"] == 0
    assert deps["churn"]["netiso_writes"] == 0, deps["churn"]
    assert deps["churn"]["pod_writes_sent"] > 0
    flips = deps["flips"]
    assert flips["flips"] >= 1
    assert flips["missed"] == 0, flips
    # Each flip: the condition's status write and its Event.
    assert flips["netiso_writes"] >= flips["flips"], flips
