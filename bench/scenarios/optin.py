"""Scenario 2a, opt-in: N namespaces that already exist are opted in by their label alone,
timed until every one of them carries all its policies (seen in the watch).

This is the bootstrap that compares like with like with the raw bound: both start from the same
N existing, unlabelled namespaces (the raw scenario's, or new ones created untimed), and neither
includes creating them. Latency per namespace runs from its label request sent to the watch
event that completed its policy set. Afterwards the namespaces are opted out again (label
removed) and waited on until netiso has removed their policies, so the scenarios after this one
see only the N namespaces of the create-and-label bootstrap.
"""

from __future__ import annotations

import time
from typing import Any

from bench.client import MERGE_PATCH, bounded
from bench.percentiles import summarise
from bench.scenarios.bootstrap import isolation_figures
from bench.session import Session
from bench.windows import Mark
from netiso import conventions


async def _label(session: Session, names: list[str], *, profile: str | None) -> None:
    body = {"metadata": {"labels": {conventions.PROFILE_LABEL: profile}}}
    await bounded(
        session.options.create_concurrency,
        [
            session.admin.request(
                "PATCH", f"/api/v1/namespaces/{name}", body=body, content_type=MERGE_PATCH
            )
            for name in names
        ],
    )


async def run(session: Session) -> dict[str, Any]:
    n = session.options.n
    names = session.raw_namespaces
    create_seconds = None
    if not names:
        names = session.namespace_names("optin", n)
        create_seconds = await session.create_namespaces(names, kind="optin", profile=None)
    profile = f"{session.prefix}optin"
    await session.create_profile(profile)
    await session.settle()
    expectation = session.watch.expect(session.expected(profile, names))
    started: dict[str, float] = {}

    async def opt_in(name: str) -> None:
        started[name] = time.monotonic()
        await _label(session, [name], profile=profile)

    before = await Mark.take(session)
    begun = time.monotonic()
    await bounded(session.options.create_concurrency, [opt_in(name) for name in names])
    label_seconds = time.monotonic() - begun
    complete = await expectation.wait(within=max(120.0, n * 0.5))
    session.watch.forget(expectation)
    finished = max(expectation.done.values(), default=time.monotonic())
    after = await Mark.take(session)
    seconds = finished - begun

    result: dict[str, Any] = {
        **isolation_figures(
            n=n,
            done=len(expectation.done),
            complete=complete,
            seconds=seconds,
            create_seconds=0.0,
        ),
        "label_seconds": round(label_seconds, 3),
        "namespaces_created_untimed_seconds": create_seconds,
        "latency": summarise(expectation.done[ns] - started[ns] for ns in expectation.done),
        "window": before.until(after),
    }
    raw = session.results.get("raw")
    if raw:
        result["ratio_to_raw"] = round(seconds / raw["seconds"], 2)
        if raw.get("namespace_label_seconds"):
            # The opt-in's trigger, labelling, shares the machine with netiso's writes: on a
            # saturated machine the two costs add up.
            bound = raw["seconds"] + raw["namespace_label_seconds"]
            result["ratio_to_raw_plus_label"] = round(seconds / bound, 2)

    # Opt out again; netiso removes the policies (not measured beyond "all gone").
    gone = session.watch.expect({name: {} for name in names})
    await _label(session, names, profile=None)
    result["opted_out_policies_removed"] = await gone.wait(within=max(120.0, n * 0.5))
    session.watch.forget(gone)
    return result
