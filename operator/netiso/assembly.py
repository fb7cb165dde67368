"""The composition root: every part of the running operator, built with its collaborators.

Assembly layer, between the Kopf handlers and the parts they drive. `build_runtime()` builds
each part once, in the order written there, handing each its collaborators through its
constructor; nothing is assigned to a part or re-wrapped afterwards. `Runtime.start()` and
`Runtime.stop()` are the startup and cleanup order. No kopf here: handlers/ adapt Kopf to it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from netiso import __version__
from netiso.admission.keeper import AdmissionKeeper
from netiso.leadership.electing import (
    CrossLoopCredentials,
    ElectionThread,
    Elector,
    Leadership,
    on_loop,
)
from netiso.leadership.sharding import ShardTallies, shard_notes
from netiso.model.enforcement import ProbeVerdict
from netiso.model.leases import Timing
from netiso.observed.authorship import Signer
from netiso.observed.view import ClusterView
from netiso.probing.prober import Prober
from netiso.reconciling.deletions import remove_profile
from netiso.reconciling.reconciler import Reconciler
from netiso.rendering.environment import make_environment
from netiso.reporting.metrics import CONTENT_TYPE, Metrics
from netiso.reporting.resolutions import Resolution
from netiso.runtime.client import ApiClient, CredentialsSource, RequestObserver, WriteGate
from netiso.runtime.posting import EventPoster
from netiso.runtime.serving import Endpoint
from netiso.runtime.tasking import cancel_all
from netiso.settings import Settings
from netiso.tracking.tracker import DependencyTracker

log = logging.getLogger(__name__)

# The dependency tracker's connections: one per namespace and kind profiles name for DNS,
# gateway and monitoring (three for the DNS namespace, one per peer namespace), plus its
# listings; past this many, a watch waits for another to end (each ends within minutes).
TRACKER_CONNECTIONS = 128


class ClientFactory(Protocol):
    """How build_runtime() makes its API clients: ApiClient itself, or a test's fake."""

    def __call__(
        self,
        credentials: CredentialsSource,
        *,
        timeout: float,
        retries: int,
        observer: RequestObserver,
        connections: int,
        fence: WriteGate | None = None,
    ) -> ApiClient: ...


class Campaign(Protocol):
    """The Lease campaign as the Runtime starts and stops it (ElectionThread)."""

    def start(self) -> None: ...

    async def stop(self, *, release_leases: bool = True) -> None: ...


class CampaignFactory(Protocol):
    """How build_runtime() runs the campaign: ElectionThread, or a test's on its own loop."""

    def __call__(self, elector: Elector, *, api: ApiClient) -> Campaign: ...


@dataclass(frozen=True)
class Runtime:
    """Everything the handlers share for the life of the process, built by build_runtime()."""

    settings: Settings
    api: ApiClient
    metrics: Metrics
    reconciler: Reconciler
    prober: Prober
    tracker: DependencyTracker
    # None when leader election is off: this process alone writes.
    election: Campaign | None = None
    # With more than one shard: the counts the other shards' leaders publish.
    tallies: ShardTallies | None = None
    # None with NETISO_ADMISSION=off.
    keeper: AdmissionKeeper | None = None
    # None without a metrics port.
    endpoint: Endpoint | None = None
    # Per profile: loop time of its last periodic resync (handlers/isolationprofiles.py).
    last_resync: dict[str, float] = field(default_factory=dict)
    background: list[asyncio.Task[None]] = field(default_factory=list)

    async def start(self) -> None:
        """Start every part: the keeper, the reconciler (listing, watches, workers), the shard
        tallies, the Lease campaign, then the endpoint."""
        if self.election is None:
            self.metrics.leader.set(1)
        if self.keeper is not None:
            self.keeper.start()
        self.reconciler.start()
        self.prober.start()
        self.tracker.start()
        if self.tallies is not None:
            follow = self.tallies.run(mark_dirty=self.reconciler.mark_dirty)
            self.background.append(asyncio.create_task(follow, name="netiso-tallies"))
        if self.election is not None:
            self.election.start()
        if self.endpoint is not None:
            await self.endpoint.start()
        log.info(
            "netiso %s started: metrics on %s:%s, %d workers, resync every %ss",
            __version__,
            self.settings.metrics_host,
            self.settings.metrics_port,
            self.settings.max_concurrency,
            self.settings.resync_interval,
        )

    def resync_when_due(self, profile: str) -> None:
        """Re-check the profile's namespaces if its resync interval has passed since the last
        (the first call only starts the count)."""
        now = asyncio.get_running_loop().time()
        last = self.last_resync.setdefault(profile, now)
        if now - last >= self.settings.resync_interval:
            self.last_resync[profile] = now
            self.reconciler.resync(profile)

    async def profile_deleted(self, profile: str, *, orphan: bool) -> None:
        """The profile is being deleted: remove its policies (reconciling/deletions.py);
        raises NotYet while its finalizer must stay."""
        self.last_resync.pop(profile, None)
        await remove_profile(
            self.reconciler,
            api=self.api,
            name=profile,
            orphan=orphan,
            pause=self.settings.retry_period,
        )

    async def stop(self) -> None:
        """Stop the workers, release the Leases (a standby takes over at once), stop the
        endpoint and close the HTTP session."""
        await cancel_all(self.background)
        if self.keeper is not None:
            await self.keeper.stop()
        await self.prober.stop()
        await self.tracker.stop()
        await self.reconciler.stop()
        if self.election is not None:
            await self.election.stop(release_leases=True)
        if self.endpoint is not None:
            await self.endpoint.stop()
        await self.api.close()


def build_runtime(
    settings: Settings,
    *,
    credentials: CredentialsSource,
    clients: ClientFactory = ApiClient,
    campaigns: CampaignFactory = ElectionThread,
    signer: Signer | None = None,
) -> Runtime:
    """Build every part of the operator; nothing runs until `Runtime.start()`.

    Call on the operator's event loop: the Lease campaign reports leadership changes there.
    `clients` makes the API clients (the operator's, and the Lease campaign's own);
    `campaigns` runs the campaign (on a thread of its own); `signer` holds the key netiso
    signs its policies with (runtime/keys.py; None: unsigned).
    """
    metrics = Metrics(version=__version__)
    # Asked by the write fence, the reconciler, the keeper and the tallies; None: election off.
    leadership = _leadership(settings)
    api = clients(
        credentials,
        timeout=settings.api_timeout,
        retries=settings.api_retries,
        observer=metrics.observe_request,
        connections=max(settings.max_concurrency * 4, 16),
        # Only the leader writes: every write is refused unless this replica holds a Lease.
        fence=leadership.may_write if leadership is not None else None,
    )
    view = ClusterView()
    tallies = (
        ShardTallies(leadership=leadership, interval=settings.retry_period)
        if leadership is not None and leadership.shards > 1
        else None
    )
    # With shards, the leader of shard 0 alone writes profile statuses and admission objects.
    leading = leadership.writes_status if leadership is not None else _always
    keeper = (
        AdmissionKeeper(
            api=api,
            metrics=metrics,
            profiles=lambda: (view.profile(name) for name in view.profile_names()),
            leading=leading,
        )
        if settings.admission
        else None
    )
    if keeper is None:
        log.info("NETISO_ADMISSION=off: admission policies and bindings are not kept")
    # The enforcement probe's last verdict per profile: written by the prober, read by the
    # status flusher for the Enforced condition.
    verdicts: dict[str, ProbeVerdict] = {}
    # The dependency tracker's verdict per profile: written by the tracker, read by the status
    # flusher for the DependenciesResolved condition.
    resolutions: dict[str, Resolution] = {}
    reconciler = Reconciler(
        api=api,
        environment=make_environment(settings.templates_dir),
        settings=settings,
        metrics=metrics,
        view=view,
        leads=leadership.leads if leadership is not None else _every_namespace,
        leading=leading,
        on_profiles=keeper.profiles_changed if keeper is not None else _nothing,
        remote_tally=tallies.remote if tallies is not None else None,
        signer=signer,
        enforcement=verdicts.get,
        dependencies=resolutions.get,
    )
    prober = Prober(
        api=api,
        metrics=metrics,
        poster=EventPoster(api, senders=1, capacity=1000),
        profiles=view,
        leading=leading,
        source_namespace=settings.operator_namespace,
        on_verdict=reconciler.mark_dirty,
        verdicts=verdicts,
    )
    tracker = DependencyTracker(
        # Its reads on a client of its own: each watch holds a connection for as long as a
        # profile names its namespace, and must never take one the policy writes need. Its
        # Events go through the fenced client.
        api=clients(
            credentials,
            timeout=settings.api_timeout,
            retries=settings.api_retries,
            observer=metrics.observe_request,
            connections=TRACKER_CONNECTIONS,
        ),
        metrics=metrics,
        poster=EventPoster(api, senders=1, capacity=1000),
        profiles=view,
        leading=leading,
        on_change=reconciler.mark_dirty,
        resolutions=resolutions,
    )
    election = None
    if leadership is None:
        log.info("leader election is off: this process is the leader")
    else:
        election = _election(
            settings,
            leadership=leadership,
            credentials=credentials,
            clients=clients,
            campaigns=campaigns,
            metrics=metrics,
            on_change=on_loop(
                _on_leadership(
                    shards=leadership.shards, metrics=metrics, reconciler=reconciler, keeper=keeper
                ),
                loop=asyncio.get_running_loop(),
            ),
            publish=lambda shard: shard_notes(
                reconciler.records(), shard=shard, shards=leadership.shards
            ),
        )
    endpoint = (
        Endpoint(
            exposition=metrics.exposition,
            content_type=CONTENT_TYPE,
            ready=lambda: reconciler.ready,
            host=settings.metrics_host,
            port=settings.metrics_port,
        )
        if settings.metrics_port
        else None
    )
    return Runtime(
        settings=settings,
        api=api,
        metrics=metrics,
        reconciler=reconciler,
        prober=prober,
        tracker=tracker,
        election=election,
        tallies=tallies,
        keeper=keeper,
        endpoint=endpoint,
    )


def _always() -> bool:
    return True


def _every_namespace(namespace: str) -> bool:
    return True


def _nothing() -> None:
    return None


def _leadership(settings: Settings) -> Leadership | None:
    """What this replica leads, or None with leader election off."""
    if not settings.leader_election:
        return None
    timing = Timing(
        lease_duration=settings.lease_duration,
        renew_deadline=settings.renew_deadline,
        retry_period=settings.retry_period,
    )
    return Leadership(timing=timing, shards=settings.shards)


def _on_leadership(
    *, shards: int, metrics: Metrics, reconciler: Reconciler, keeper: AdmissionKeeper | None
) -> Callable[[frozenset[int]], None]:
    """What a change of the led shards sets off: the leader metrics, the reconciler's take-over
    (or hand-over) and the keeper's re-check, in that order."""

    def changed(held: frozenset[int]) -> None:
        metrics.leader.set(1 if held else 0)
        if shards > 1:
            for shard in range(shards):
                metrics.shard_leader.labels(shard=str(shard)).set(1 if shard in held else 0)
        reconciler.leadership_changed()
        if keeper is not None:
            keeper.leadership_changed()

    return changed


def _election(
    settings: Settings,
    *,
    leadership: Leadership,
    credentials: CredentialsSource,
    clients: ClientFactory,
    campaigns: CampaignFactory,
    metrics: Metrics,
    on_change: Callable[[frozenset[int]], None],
    publish: Callable[[int], str],
) -> Campaign:
    """The Lease campaign with its own API client and thread.

    The Leases get their own client: a renewal must not queue behind a burst of policy writes,
    must not be retried past the renew deadline (one attempt each, a new round every retry
    period), and is counted apart from the operator's work (netiso_lease_requests_total).
    """
    lease_api = clients(
        CrossLoopCredentials(credentials, loop=asyncio.get_running_loop()),
        timeout=max(settings.renew_deadline - settings.retry_period, 1.0),
        retries=1,
        observer=metrics.observe_lease_request,
        connections=4,
    )
    elector = Elector(
        leadership=leadership,
        api=lease_api,
        namespace=settings.operator_namespace,
        name=settings.lease_name,
        identity=settings.holder,
        max_held=settings.max_shards_per_replica,
        on_change=on_change,
        publish=publish,
    )
    log.info(
        "%s campaigns for lease %s/%s (%d shard(s)); standing by until it holds one",
        settings.holder,
        settings.operator_namespace,
        settings.lease_name,
        settings.shards,
    )
    return campaigns(elector, api=lease_api)
