"""Scenario 3, fan-out: one edit of the profile (gateway gains a port), timed until all N
namespaces carry the new spec-hash on their gateway policy (seen in the watch).

The matching raw figure is the raw bound's `apply_one_seconds` (one changed policy applied per
namespace); the ratio to the full raw bound (four policies) is reported too, as the issue asks.
"""

from __future__ import annotations

import time
from typing import Any

from bench.percentiles import summarise
from bench.scenarios.raw import gateway_with_extra_port
from bench.session import Session
from bench.windows import Mark


async def run(session: Session) -> dict[str, Any]:
    profile = session.main_profile
    names = session.main_namespaces
    gateway = gateway_with_extra_port(session, profile)
    changed = session.profile_body(profile)
    changed["spec"] = {**session.profiles[profile]["spec"], "gateway": gateway}
    wanted = {
        ns: {p.name: p.spec_hash for p in session.render(profile, ns, changed)} for ns in names
    }
    expectation = session.watch.expect(wanted)

    before = await Mark.take(session)
    begun = time.monotonic()
    await session.patch_profile(profile, {"gateway": gateway})
    complete = await expectation.wait(within=max(120.0, len(names) * 0.5))
    session.watch.forget(expectation)
    finished = max(expectation.done.values(), default=time.monotonic())
    after = await Mark.take(session)

    seconds = finished - begun
    result: dict[str, Any] = {
        "namespaces": len(names),
        "updated": len(expectation.done),
        "complete": complete,
        "seconds": round(seconds, 3),
        "namespaces_per_second": round(len(expectation.done) / seconds, 1),
        "latency": summarise(t - begun for t in expectation.done.values()),
        "window": before.until(after),
    }
    raw = session.results.get("raw")
    if raw:
        result["ratio_to_raw_apply_one"] = round(seconds / raw["apply_one_seconds"], 2)
        result["ratio_to_raw"] = round(seconds / raw["seconds"], 2)
    return result
