"""What the operator and the API server did between two instants of a scenario.

A `Mark` reads netiso's /metrics, the kopf process's CPU and RSS, the API server's request
counters and the machine's CPU (other workloads competing with the run show there);
`Mark.until(later)` reports the difference: writes and reads netiso counted itself, writes the
API server saw on netiso's resources, reconciles, CPU seconds and APF queueing.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from bench.processes import (
    MachineSample,
    ProcessSample,
    cpu_between,
    machine_between,
    sample_machine,
)
from bench.serverstats import READ_VERBS, WRITE_VERBS, ServerStats
from bench.session import Metrics, Session

# The flow schema that plain users (like the netiso-operator user) fall into by default.
OPERATOR_FLOW_SCHEMAS = ("global-default", "catch-all")


@dataclass(frozen=True)
class Mark:
    at: float
    metrics: Metrics | None
    process: ProcessSample | None
    server: ServerStats | None
    machine: MachineSample

    @classmethod
    async def take(cls, session: Session, *, operator: bool = True) -> Mark:
        running = operator and session.operator is not None
        return cls(
            at=time.monotonic(),
            metrics=await session.operator_metrics() if running else None,
            process=session.sample_operator() if running else None,
            server=await session.server_stats(),
            machine=sample_machine(),
        )

    def until(self, later: Mark) -> dict[str, Any]:
        """The activity between this mark and `later`, as report fields."""
        out: dict[str, Any] = {
            "seconds": round(later.at - self.at, 3),
            "machine": machine_between(self.machine, later.machine),
        }
        if self.metrics is not None and later.metrics is not None:
            before = Session.api_requests(self.metrics)
            after = Session.api_requests(later.metrics)
            delta = {v: after.get(v, 0.0) - before.get(v, 0.0) for v in after}
            out["netiso_writes"] = Session.writes(delta)
            out["netiso_requests_by_verb"] = {v: int(n) for v, n in sorted(delta.items()) if n}
            out["reconciles"] = {
                dict(labels)["result"]: int(value - self.metrics.get((name, labels), 0.0))
                for (name, labels), value in later.metrics.items()
                if name == "netiso_reconcile_total"
                and value - self.metrics.get((name, labels), 0.0)
            }
        if self.process is not None and later.process is not None:
            out["operator_cpu"] = cpu_between(self.process, later.process)
            out["operator_rss_mib"] = later.process.as_dict()["rss_mib"]
        if self.server is not None and later.server is not None:
            server = later.server.minus(self.server)
            out["apiserver_writes"] = server.count(WRITE_VERBS)
            out["apiserver_writes_by_verb"] = server.breakdown(WRITE_VERBS)
            out["apiserver_reads"] = server.count(READ_VERBS)
            apf = server.apf()
            out["apf"] = {k: v for k, v in apf.items() if k in OPERATOR_FLOW_SCHEMAS}
            out["apf_rejected_total"] = int(sum(v["rejected"] for v in apf.values()))
        return out
