"""The per-process runtime kept on Kopf's memo, and the index-backed `Sources`.

Handlers layer. Built in the startup handler; every other handler reaches it through
`runtime_of(memo)`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

import kopf
from aiohttp import web

from netiso.cluster.client import ApiClient
from netiso.cluster.drifts import LivePolicy
from netiso.reconciling import NamespaceEntry, ProfileEntry, Reconciler
from netiso.reporting.metrics import Metrics
from netiso.settings import Settings


def _first(index: kopf.Index[str, Any], key: str) -> Any:
    store = index.get(key)
    if not store:
        return None
    return next(iter(store), None)


class IndexSources:
    """`reconciling.Sources` over Kopf's live indexes (read-only views, updated in place)."""

    def __init__(
        self,
        *,
        namespaces: kopf.Index[str, NamespaceEntry],
        by_profile: kopf.Index[str, str],
        profiles: kopf.Index[str, ProfileEntry],
        policies: kopf.Index[str, LivePolicy],
    ) -> None:
        self._namespaces = namespaces
        self._by_profile = by_profile
        self._profiles = profiles
        self._policies = policies

    def namespace(self, name: str) -> NamespaceEntry | None:
        entry: NamespaceEntry | None = _first(self._namespaces, name)
        return entry

    def profile(self, name: str) -> ProfileEntry | None:
        entry: ProfileEntry | None = _first(self._profiles, name)
        return entry

    def live_policies(self, namespace: str) -> Sequence[LivePolicy]:
        store = self._policies.get(namespace)
        return list(store) if store else []

    def namespaces_of(self, profile: str) -> Collection[str]:
        store = self._by_profile.get(profile)
        return list(store) if store else []

    def all_namespaces(self) -> Collection[str]:
        return set(self._namespaces) | set(self._policies)

    def profile_names(self) -> Collection[str]:
        return list(self._profiles)


@dataclass
class Runtime:
    """Everything the handlers share for the life of the process."""

    settings: Settings
    api: ApiClient
    metrics: Metrics
    reconciler: Reconciler
    sources: IndexSources
    endpoint: web.AppRunner | None = None
    last_resync: dict[str, float] = field(default_factory=dict)
    idle_check: asyncio.TimerHandle | None = None


def runtime_of(memo: kopf.Memo) -> Runtime:
    """The Runtime the startup handler put on the memo."""
    runtime = memo.get("netiso")
    if not isinstance(runtime, Runtime):
        raise kopf.TemporaryError("netiso is still starting", delay=1)
    return runtime
