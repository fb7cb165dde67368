"""Operator startup and cleanup: Kopf tuning, the API client, metrics, the reconciler.

Handlers layer. Everything with a lifetime is built here (never at import time) and kept on
Kopf's memo; cleanup closes it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import kopf

from netiso import __version__, conventions
from netiso.admission.keeper import AdmissionKeeper
from netiso.handlers.login import credentials_of
from netiso.handlers.memo import Runtime
from netiso.leadership.electing import CrossLoopCredentials, ElectionThread, Elector
from netiso.leadership.sharding import ShardTallies
from netiso.model.leases import Timing
from netiso.reconciling.reconciler import Reconciler
from netiso.rendering.environment import make_environment
from netiso.reporting.metrics import CONTENT_TYPE, Metrics
from netiso.runtime.client import ApiClient, CredentialsSource
from netiso.runtime.serving import serve
from netiso.runtime.tasking import cancel_all
from netiso.settings import Settings, SettingsError

log = logging.getLogger(__name__)


def tune(settings: kopf.OperatorSettings) -> None:
    """Kopf settings, one reason per line."""
    # netiso posts its own Events, only on state changes; Kopf's per-handler ones would be
    # writes at steady state.
    settings.posting.enabled = False
    # One prefix for everything netiso writes, on the profile only.
    settings.persistence.finalizer = f"{conventions.GROUP}/cleanup"
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(
        prefix=conventions.GROUP
    )
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=conventions.GROUP, key="last-handled-configuration"
    )
    # A silently dead watch connection must not freeze the operator: reconnect every 5 min.
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    settings.watching.connect_timeout = 30
    # Large lists arrive in pages so 10,000 namespaces never sit in memory as one response.
    settings.watching.chunk_size = 500
    # Events of one object within this window are handled once, with the newest body.
    settings.batching.batch_window = 0.05
    # Kopf logs every handled event at INFO; at 10,000 namespaces that is most of the CPU.
    # netiso logs what it does itself; `kopf run --verbose/--debug` still shows Kopf's lines.
    if logging.getLogger().getEffectiveLevel() > logging.DEBUG:
        logging.getLogger("kopf.objects").setLevel(logging.WARNING)


@kopf.on.startup(id="netiso-startup")
async def startup(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    """Build the runtime and start the initial listing and reconcile in the background.

    A bad setting stops the operator with a clear message.
    """
    tune(settings)
    try:
        config = Settings.from_env()
    except SettingsError as exc:
        raise kopf.PermanentError(str(exc)) from exc
    metrics = Metrics(version=__version__)
    # Kopf's login result (see handlers/login.py): requests wait until it arrives.
    credentials = credentials_of(memo, settings)
    api = ApiClient(
        credentials,
        timeout=config.api_timeout,
        retries=config.api_retries,
        observer=metrics.observe_request,
        connections=max(config.max_concurrency * 4, 16),
    )
    election = _election(config, credentials=credentials, metrics=metrics)
    if election is None:
        reconciler = Reconciler(
            api=api,
            environment=make_environment(config.templates_dir),
            settings=config,
            metrics=metrics,
        )
        metrics.leader.set(1)
        log.info("leader election is off: this process is the leader")
    else:
        # Only the leader writes: every write is refused unless this replica holds a Lease.
        elector = election.elector
        api.fence(elector.may_write)
        reconciler = Reconciler(
            api=api,
            environment=make_environment(config.templates_dir),
            settings=config,
            metrics=metrics,
            leads=elector.leads,
            # With shards, the leader of shard 0 alone writes profile statuses.
            leading=elector.writes_status,
        )
        elector.on_change = _on_leadership(elector, reconciler=reconciler, metrics=metrics)
    keeper = _keeper(config, api=api, reconciler=reconciler, metrics=metrics, election=election)
    reconciler.start()
    runtime = Runtime(
        settings=config,
        api=api,
        metrics=metrics,
        reconciler=reconciler,
        election=election,
        keeper=keeper,
    )
    if election is not None:
        elector = election.elector
        if elector.shards > 1:
            tallies = ShardTallies(
                elector=elector, reconciler=reconciler, interval=config.retry_period
            )
            elector.publish = tallies.publish
            reconciler.remote_tally = tallies.remote
            runtime.background.append(asyncio.create_task(tallies.run(), name="netiso-tallies"))
        election.start()
    if config.metrics_port:
        runtime.endpoint = await serve(
            exposition=metrics.exposition,
            content_type=CONTENT_TYPE,
            ready=lambda: reconciler.ready,
            host=config.metrics_host,
            port=config.metrics_port,
        )
    memo["netiso"] = runtime
    log.info(
        "netiso %s started: metrics on %s:%s, %d workers, resync every %ss",
        __version__,
        config.metrics_host,
        config.metrics_port,
        config.max_concurrency,
        config.resync_interval,
    )


def _keeper(
    config: Settings,
    *,
    api: ApiClient,
    reconciler: Reconciler,
    metrics: Metrics,
    election: ElectionThread | None,
) -> AdmissionKeeper | None:
    """The admission keeper, started and told of profiles and leadership; None when off.

    It writes as the profile statuses do: on the single replica, or on shard 0's leader.
    """
    if not config.admission:
        log.info("NETISO_ADMISSION=off: admission policies and bindings are not kept")
        return None
    view = reconciler.view
    keeper = AdmissionKeeper(
        api=api,
        metrics=metrics,
        profiles=lambda: (view.profile(name) for name in view.profile_names()),
        leading=election.elector.writes_status if election is not None else lambda: True,
    )
    reconciler.on_profiles = keeper.profiles_changed
    if election is not None:
        changed = election.elector.on_change

        def also_keeper(held: frozenset[int]) -> None:
            changed(held)
            keeper.leadership_changed()

        election.elector.on_change = also_keeper
    keeper.start()
    return keeper


def _on_leadership(
    elector: Elector, *, reconciler: Reconciler, metrics: Metrics
) -> Callable[[frozenset[int]], None]:
    def changed(held: frozenset[int]) -> None:
        metrics.leader.set(1 if held else 0)
        if elector.shards > 1:
            for shard in range(elector.shards):
                metrics.shard_leader.labels(shard=str(shard)).set(1 if shard in held else 0)
        reconciler.leadership_changed()

    return changed


def _election(
    config: Settings, *, credentials: CredentialsSource, metrics: Metrics
) -> ElectionThread | None:
    """The Lease campaign with its own API client and thread, or None with leader election off.

    The Leases get their own client: a renewal must not queue behind a burst of policy writes,
    must not be retried past the renew deadline (one attempt each, a new round every retry
    period), and is counted apart from the operator's work (netiso_lease_requests_total).
    """
    if not config.leader_election:
        return None
    timing = Timing(
        lease_duration=config.lease_duration,
        renew_deadline=config.renew_deadline,
        retry_period=config.retry_period,
    )
    lease_api = ApiClient(
        CrossLoopCredentials(credentials, loop=asyncio.get_running_loop()),
        timeout=max(config.renew_deadline - config.retry_period, 1.0),
        retries=1,
        observer=metrics.observe_lease_request,
        connections=4,
    )
    elector = Elector(
        api=lease_api,
        namespace=config.operator_namespace,
        name=config.lease_name,
        identity=config.holder,
        timing=timing,
        shards=config.shards,
        max_held=config.max_shards_per_replica,
    )
    log.info(
        "%s campaigns for lease %s/%s (%d shard(s)); standing by until it holds one",
        config.holder,
        config.operator_namespace,
        config.lease_name,
        config.shards,
    )
    return ElectionThread(elector, api=lease_api)


@kopf.on.cleanup(id="netiso-cleanup")
async def cleanup(memo: kopf.Memo, **_: Any) -> None:
    """Stop the workers, release the Leases (a standby takes over at once), stop the endpoint
    and close the HTTP sessions."""
    runtime = memo.get("netiso")
    if not isinstance(runtime, Runtime):
        return
    await cancel_all(runtime.background)
    if runtime.keeper is not None:
        await runtime.keeper.stop()
    await runtime.reconciler.stop()
    if runtime.election is not None:
        await runtime.election.stop(release_leases=True)
    if runtime.endpoint is not None:
        await runtime.endpoint.cleanup()
    await runtime.api.close()
