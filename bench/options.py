"""The benchmark's command line: what to run, at which size, against which cluster.

Parsed once into a frozen `Options`; every knob has a unit and a default that matches the issue
(N=1,000, a 5-minute steady state, 50 namespaces trickling in at one per 200 ms).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

ROOT: Final = Path(__file__).resolve().parents[1]
SCENARIOS: Final = (
    "raw",
    "optin",
    "bootstrap",
    "trickle",
    "fanout",
    "drift",
    "guardrails",
    "steady",
    "dependencies",
    "restart",
    "failover",
    "resources",
    "sharded",
)
# Scenarios that need N namespaces isolated first; bootstrap runs (unreported) to get there.
NEEDS_BOOTSTRAP: Final = frozenset(SCENARIOS) - {"raw", "optin", "bootstrap", "trickle", "sharded"}


@dataclass(frozen=True)
class Options:
    """Every benchmark knob; see `parse` for the flags."""

    n: int = 1000
    scenarios: tuple[str, ...] = SCENARIOS
    kubeconfig: Path | None = None
    operator_kubeconfig: Path | None = None
    out: Path = ROOT / "bench" / "results"
    # NETISO_MAX_CONCURRENCY for the operator.
    concurrency: int = 16
    # Namespaces in flight in the raw bound's trials; the fastest is the bound.
    raw_concurrencies: tuple[int, ...] = (8, 16, 32, 64)
    # Namespace creations in flight (the benchmark's admin client, not the operator).
    create_concurrency: int = 16
    steady_seconds: float = 300.0
    trickle_count: int = 50
    trickle_interval: float = 0.2
    drift_sizes: tuple[int, ...] = (1, 100)
    report_trials: int = 10
    # NetworkPolicies of the namespace owners' own in each isolated namespace (guardrails),
    # left in place for steady state and restart.
    foreign_policies: int = 2
    # Seconds the operator is watched after a restart became ready, for late writes.
    restart_settle: float = 10.0
    # Seconds of each window of the dependencies scenario (quiet, churn, flips).
    dependencies_seconds: float = 60.0
    # Annotation changes per second of the DNS pod in the dependencies scenario's churn.
    churn_rate: float = 10.0
    # Seconds two replicas are watched at steady state in the failover scenario.
    failover_steady_seconds: float = 30.0
    # Replicas and shards (one each) of the sharded scenario.
    shards: int = 2
    # Seconds a restarted operator may take to become ready; None: by N (600 s to 1800 s).
    restart_ready_within: float | None = None
    # NETISO_RESYNC_INTERVAL for the operator; None keeps the operator's default (300 s).
    resync_interval: float | None = None
    profile: tuple[str, ...] = ()
    dated: bool | None = None
    logs: Path | None = None
    # Benchmark this commit's operator first, then the work tree's, in the same run.
    baseline_ref: str | None = None
    # Set by the before/after run, not the command line: the kopf (and the commit it runs)
    # that starts the operator instead of the work tree's.
    operator_kopf: Path | None = None
    operator_commit: str | None = None
    # The baseline's exported tree: its CRD and ClusterRole are installed for its operator.
    operator_tree: Path | None = None
    # The profile every scenario starts from (default: manifests/samples/baseline.yaml); a
    # before/after run uses the baseline's, which both operators understand.
    profile_file: Path | None = None

    @property
    def keep_dated_copy(self) -> bool:
        """Large runs keep a dated copy next to latest.*; --dated/--no-dated override."""
        return self.dated if self.dated is not None else self.n >= 1000

    def wants(self, scenario: str) -> bool:
        return scenario in self.scenarios

    @property
    def needs_bootstrap(self) -> bool:
        return bool(NEEDS_BOOTSTRAP & set(self.scenarios)) or self.wants("bootstrap")

    @property
    def needs_operator(self) -> bool:
        return any(s != "raw" for s in self.scenarios)


def _names(text: str) -> tuple[str, ...]:
    names = tuple(part.strip() for part in text.split(",") if part.strip())
    unknown = [name for name in names if name not in SCENARIOS]
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown scenario(s) {', '.join(unknown)}; choose from {', '.join(SCENARIOS)}"
        )
    return names


def _sizes(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated integers, got {text!r}"
        ) from None


def parse(argv: Sequence[str] | None = None) -> Options:
    """Options from the command line (default: sys.argv)."""
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Benchmark netiso against a real API server (see bench/README.md).",
    )
    add = parser.add_argument
    add("--n", type=int, default=Options.n, help="namespaces per run (default 1000)")
    add(
        "--scenarios",
        type=_names,
        default=SCENARIOS,
        help=f"comma-separated subset of {','.join(SCENARIOS)} (default: all)",
    )
    add("--kubeconfig", type=Path, help="use this cluster instead of starting a local one")
    add(
        "--operator-kubeconfig",
        type=Path,
        help="kubeconfig the operator runs with on --kubeconfig clusters (default: the same)",
    )
    add("--out", type=Path, default=Options.out, help="results directory (bench/results)")
    add("--concurrency", type=int, default=Options.concurrency, help="NETISO_MAX_CONCURRENCY")
    add(
        "--raw-concurrencies",
        type=_sizes,
        default=Options.raw_concurrencies,
        help="namespaces in flight tried by the raw bound, the fastest counts (default 8,16,32,64)",
    )
    add("--create-concurrency", type=int, default=Options.create_concurrency)
    add("--steady-seconds", type=float, default=Options.steady_seconds)
    add("--trickle-count", type=int, default=Options.trickle_count)
    add("--trickle-interval", type=float, default=Options.trickle_interval, help="seconds")
    add("--drift-sizes", type=_sizes, default=Options.drift_sizes, help="e.g. 1,100")
    add("--report-trials", type=int, default=Options.report_trials)
    add(
        "--foreign-policies",
        type=int,
        default=Options.foreign_policies,
        help="namespace owners' own policies per isolated namespace (guardrails; default 2)",
    )
    add("--restart-settle", type=float, default=Options.restart_settle, help="seconds")
    add(
        "--dependencies-seconds",
        type=float,
        default=Options.dependencies_seconds,
        help="seconds of each window of the dependencies scenario (default 60)",
    )
    add(
        "--churn-rate",
        type=float,
        default=Options.churn_rate,
        help="DNS pod changes per second in the dependencies scenario's churn (default 10)",
    )
    add(
        "--failover-steady-seconds",
        type=float,
        default=Options.failover_steady_seconds,
        help="seconds two replicas are watched at steady state (failover)",
    )
    add(
        "--shards",
        type=int,
        default=Options.shards,
        help="replicas and shards, one each, of the sharded scenario",
    )
    add(
        "--restart-ready-within",
        type=float,
        help="seconds a restarted operator may take to become ready (default: 600-1800 by N)",
    )
    add("--resync-interval", type=float, help="NETISO_RESYNC_INTERVAL (default: operator's)")
    add(
        "--profile",
        type=_names,
        default=(),
        help="scenarios during which py-spy samples the operator (e.g. bootstrap,fanout)",
    )
    add("--dated", action=argparse.BooleanOptionalAction, default=None)
    add("--logs", type=Path, help="directory for operator logs and profiles (default: tmp)")
    add(
        "--baseline-ref",
        help="also benchmark this commit's operator, first, in the same run (before/after)",
    )
    args = parser.parse_args(argv)
    if args.n < 1:
        parser.error("--n must be at least 1")
    if not args.raw_concurrencies or min(args.raw_concurrencies) < 1:
        parser.error("--raw-concurrencies needs at least one number, each at least 1")
    return Options(
        n=args.n,
        scenarios=tuple(s for s in SCENARIOS if s in args.scenarios),
        kubeconfig=args.kubeconfig,
        operator_kubeconfig=args.operator_kubeconfig,
        out=args.out,
        concurrency=args.concurrency,
        raw_concurrencies=args.raw_concurrencies,
        create_concurrency=args.create_concurrency,
        steady_seconds=args.steady_seconds,
        trickle_count=args.trickle_count,
        trickle_interval=args.trickle_interval,
        drift_sizes=args.drift_sizes,
        report_trials=args.report_trials,
        foreign_policies=args.foreign_policies,
        restart_settle=args.restart_settle,
        dependencies_seconds=args.dependencies_seconds,
        churn_rate=args.churn_rate,
        failover_steady_seconds=args.failover_steady_seconds,
        shards=args.shards,
        restart_ready_within=args.restart_ready_within,
        resync_interval=args.resync_interval,
        profile=args.profile,
        dated=args.dated,
        logs=args.logs,
        baseline_ref=args.baseline_ref,
    )
