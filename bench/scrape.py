"""Scrape benchmark: the cost of /metrics, and of reporting a reconcile, at N namespaces.

Run: `.venv/bin/python bench/scrape.py [--namespaces 10000] [--scrapes 50]`. No cluster: it
reports N reconciles through the operator's own Reporter (95% isolated; the rest drifted, in
DryRun, errored, missing their profile or breaking guardrails, over 10 profiles), then times
`Metrics.exposition()`, which is what a Prometheus scrape of /metrics runs. Prints numbers only.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import time
from typing import Any, cast

from netiso.model.guardrails import Rule, Violation
from netiso.observed.drifts import Drift, DriftReason, PolicyWrite, Verb
from netiso.observed.entries import NamespaceState, Outcome, Record
from netiso.reporting.events import Events
from netiso.reporting.metrics import Metrics
from netiso.reporting.reports import Reporter
from netiso.runtime.client import ApiClient
from netiso.runtime.posting import EventPoster

PROFILES = 10


class _Dropped(EventPoster):
    """A poster that sends nothing: the benchmark measures reporting, not the API."""

    def __init__(self) -> None:
        super().__init__(cast(ApiClient, None))

    def submit(self, body: dict[str, Any]) -> None:
        pass


def record_of(index: int) -> tuple[str, Record, frozenset[Drift]]:
    """The namespace's name, its record and the drifts detected in it (1 in 20 is unwell)."""
    namespace = f"team-{index:05d}"
    profile = f"profile-{index % PROFILES}"
    kind = index % 100
    if kind < 95:
        return namespace, Record(profile=profile, state=NamespaceState.ISOLATED), frozenset()
    if kind == 95:
        drifts = frozenset({Drift(namespace, "netiso-default-deny", DriftReason.MODIFIED)})
        record = Record(profile=profile, state=NamespaceState.DRIFTED, drifts=drifts)
        return namespace, record, drifts
    if kind == 96:
        pending = (
            PolicyWrite(verb=Verb.CREATE, name="netiso-allow-dns-egress"),
            PolicyWrite(verb=Verb.CREATE, name="netiso-default-deny"),
        )
        return (
            namespace,
            Record(profile=profile, state=NamespaceState.DRY_RUN, pending=pending),
            (frozenset()),
        )
    if kind == 97:
        record = Record(profile=profile, state=NamespaceState.ERROR, message="refused")
        return namespace, record, frozenset()
    if kind == 98:
        record = Record(profile="gone", state=NamespaceState.MISSING_PROFILE, message="missing")
        return namespace, record, frozenset()
    violations = frozenset(
        {
            Violation(Rule.NO_PEERS, "spec.ingress[0]", "open", namespace, "allow-all"),
            Violation(Rule.BROAD_CIDR, "spec.egress[0]", "wide", namespace, "wide", "ticket-1"),
        }
    )
    record = Record(profile=profile, state=NamespaceState.DRIFTED, violations=violations)
    return namespace, record, frozenset()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--namespaces", type=int, default=10_000)
    parser.add_argument("--scrapes", type=int, default=50)
    args = parser.parse_args(argv)
    # An errored namespace logs a warning; 100 of them say nothing about the timing.
    logging.disable(logging.WARNING)
    metrics = Metrics(version="bench")
    reporter = Reporter(metrics=metrics, events=Events(_Dropped()))
    # CPU time of this thread as well as wall time: two shared cores make wall time noisy.
    started, cpu = time.perf_counter(), time.thread_time()
    for index in range(args.namespaces):
        namespace, record, drifts = record_of(index)
        outcome = Outcome(namespace=namespace, record=record)
        reporter.report(outcome, entry=None, repaired=0, detected=drifts)
    reporting = (time.perf_counter() - started, time.thread_time() - cpu)
    walls, cpus = [], []
    text = b""
    for _ in range(args.scrapes):
        started, cpu = time.perf_counter(), time.thread_time()
        text = metrics.exposition()
        walls.append(time.perf_counter() - started)
        cpus.append(time.thread_time() - cpu)
    series = sum(1 for line in text.decode().splitlines() if line and not line.startswith("#"))
    per_namespace = [seconds / args.namespaces * 1e6 for seconds in reporting]
    median = f"{_ms(statistics.median(walls))} / {_ms(statistics.median(cpus))}"
    print(f"namespaces                      {args.namespaces}")
    print(f"report per namespace, wall/cpu  {per_namespace[0]:.1f} / {per_namespace[1]:.1f} us")
    print(f"scrape median, wall/cpu         {median}")
    print(f"scrape p95, wall/cpu            {_ms(_p95(walls))} / {_ms(_p95(cpus))}")
    print(f"series / bytes                  {series} / {len(text)}")
    return 0


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, int(len(ordered) * 0.95) - 1)]


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:.2f} ms"


if __name__ == "__main__":
    raise SystemExit(main())
