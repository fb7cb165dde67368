"""The API server's own request counters, scraped from its /metrics with the admin client.

`apiserver_request_total` counts every request by verb and resource (not by user), so a window
in which the benchmark itself sends nothing attributes the writes to netiso's resources to the
operator. API Priority and Fairness series show whether the operator's flow was queued or
rejected (the operator runs as a plain user; the admin is exempt, as system:masters is).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Final, TypeVar

from prometheus_client.parser import text_string_to_metric_families

from bench.client import KubeClient

WRITE_VERBS: Final = frozenset({"POST", "PUT", "PATCH", "APPLY", "DELETE", "DELETECOLLECTION"})
READ_VERBS: Final = frozenset({"GET", "LIST", "WATCH"})
NETISO_RESOURCES: Final = frozenset(
    {"networkpolicies", "isolationprofiles", "events", "namespaces"}
)
_WANTED: Final = (
    "apiserver_request_total",
    "apiserver_flowcontrol_dispatched_requests_total",
    "apiserver_flowcontrol_rejected_requests_total",
    "apiserver_flowcontrol_request_wait_duration_seconds_sum",
    "apiserver_flowcontrol_request_wait_duration_seconds_count",
)

_K = TypeVar("_K")
RequestKey = tuple[str, str, str]
"""(verb, resource, subresource)."""


@dataclass(frozen=True)
class ServerStats:
    """Counter values at one instant (or the difference of two instants)."""

    requests: dict[RequestKey, float] = field(default_factory=lambda: defaultdict(float))
    # The APF series, by flow schema; wait_sum is in seconds.
    dispatched: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    rejected: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    wait_sum: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    wait_count: dict[str, float] = field(default_factory=lambda: defaultdict(float))

    def minus(self, older: ServerStats) -> ServerStats:
        """The counts between `older` and this snapshot (counters only grow, but an API
        server restart resets them; such keys come out negative and are kept as they are)."""
        return ServerStats(
            requests=_minus(self.requests, older.requests),
            dispatched=_minus(self.dispatched, older.dispatched),
            rejected=_minus(self.rejected, older.rejected),
            wait_sum=_minus(self.wait_sum, older.wait_sum),
            wait_count=_minus(self.wait_count, older.wait_count),
        )

    def count(self, verbs: Iterable[str], resources: Iterable[str] = NETISO_RESOURCES) -> int:
        verbs, resources = set(verbs), set(resources)
        return int(
            sum(
                v
                for (verb, res, _), v in self.requests.items()
                if verb in verbs and res in resources
            )
        )

    def breakdown(self, verbs: Iterable[str]) -> dict[str, int]:
        """'VERB resource[/sub]' -> count, for the netiso resources."""
        verbs = set(verbs)
        out: dict[str, int] = {}
        for (verb, resource, sub), value in sorted(self.requests.items()):
            if verb in verbs and resource in NETISO_RESOURCES and value:
                out[f"{verb} {resource}{'/' + sub if sub else ''}"] = int(value)
        return out

    def apf(self) -> dict[str, dict[str, float]]:
        """Per flow schema: requests dispatched, rejected, and mean queue wait in ms."""
        out: dict[str, dict[str, float]] = {}
        for schema in sorted(set(self.dispatched) | set(self.rejected)):
            count = self.wait_count.get(schema, 0)
            out[schema] = {
                "dispatched": int(self.dispatched.get(schema, 0)),
                "rejected": int(self.rejected.get(schema, 0)),
                "mean_wait_ms": round(1000 * self.wait_sum.get(schema, 0) / count, 2)
                if count
                else 0.0,
            }
        return out


def _minus(new: Mapping[_K, float], old: Mapping[_K, float]) -> dict[_K, float]:
    out: dict[_K, float] = defaultdict(float)
    for key, value in new.items():
        if value - old.get(key, 0.0):
            out[key] = value - old.get(key, 0.0)
    return out


async def scrape(client: KubeClient) -> ServerStats | None:
    """The counters now; None when /metrics is not readable with this client."""
    status, text = await client.text("/metrics")
    if status != 200:
        return None
    return parse(text)


def parse(text: str) -> ServerStats:
    # The full exposition is megabytes; parse only the families we read.
    lines = [line for line in text.splitlines() if line.startswith(_WANTED)]
    stats = ServerStats()
    for family in text_string_to_metric_families("\n".join(lines) + "\n"):
        for sample in family.samples:
            labels: Mapping[str, str] = sample.labels
            if sample.name == "apiserver_request_total":
                key = (
                    labels.get("verb", ""),
                    labels.get("resource", ""),
                    labels.get("subresource", ""),
                )
                stats.requests[key] += sample.value
            elif sample.name == "apiserver_flowcontrol_dispatched_requests_total":
                stats.dispatched[labels.get("flow_schema", "")] += sample.value
            elif sample.name == "apiserver_flowcontrol_rejected_requests_total":
                stats.rejected[labels.get("flow_schema", "")] += sample.value
            elif sample.name == "apiserver_flowcontrol_request_wait_duration_seconds_sum":
                stats.wait_sum[labels.get("flow_schema", "")] += sample.value
            elif sample.name == "apiserver_flowcontrol_request_wait_duration_seconds_count":
                stats.wait_count[labels.get("flow_schema", "")] += sample.value
    return stats
