"""The per-process runtime kept on Kopf's memo.

Handlers layer. Built in the startup handler; every other handler reaches it through
`runtime_of(memo)`.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import kopf

from netiso.admission.keeper import AdmissionKeeper
from netiso.leadership.electing import ElectionThread
from netiso.reconciling.reconciler import Reconciler
from netiso.reporting.metrics import Metrics
from netiso.runtime.client import ApiClient
from netiso.runtime.serving import Endpoint
from netiso.settings import Settings


@dataclass
class Runtime:
    """Everything the handlers share for the life of the process."""

    settings: Settings
    api: ApiClient
    metrics: Metrics
    reconciler: Reconciler
    endpoint: Endpoint | None = None
    # None when leader election is off: this process alone writes.
    election: ElectionThread | None = None
    background: list[asyncio.Task[None]] = field(default_factory=list)
    # None with NETISO_ADMISSION=off.
    keeper: AdmissionKeeper | None = None
    last_resync: dict[str, float] = field(default_factory=dict)


def runtime_of(memo: kopf.Memo) -> Runtime:
    """The Runtime the startup handler put on the memo."""
    runtime = memo.get("netiso")
    if not isinstance(runtime, Runtime):
        raise kopf.TemporaryError("netiso is still starting", delay=1)
    return runtime
