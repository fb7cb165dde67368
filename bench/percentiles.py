"""Latency summaries: nearest-rank percentiles of a sample, in seconds.

Nearest-rank (no interpolation) so a p99 is always a latency that was actually observed.
"""

from __future__ import annotations

import math
from collections.abc import Iterable


def percentile(values: list[float], q: float) -> float:
    """The nearest-rank q-th percentile (0 < q <= 100) of sorted `values`; 0.0 when empty."""
    if not values:
        return 0.0
    rank = max(1, math.ceil(q / 100 * len(values)))
    return values[rank - 1]


def summarise(latencies: Iterable[float]) -> dict[str, float | int]:
    """count, min, p50, p95, p99 and max of the latencies, rounded to the millisecond."""
    values = sorted(latencies)
    out: dict[str, float | int] = {"count": len(values)}
    if not values:
        return out
    out["min"] = round(values[0], 4)
    for q in (50, 95, 99):
        out[f"p{q}"] = round(percentile(values, q), 4)
    out["max"] = round(values[-1], 4)
    return out
