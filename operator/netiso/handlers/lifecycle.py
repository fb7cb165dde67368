"""Operator startup and cleanup: Kopf tuning, the API client, metrics, the reconciler.

Handlers layer. Everything with a lifetime is built here (never at import time) and kept on
Kopf's memo; cleanup closes it.
"""

from __future__ import annotations

import logging
from typing import Any

import kopf

from netiso import __version__, conventions
from netiso.cluster.client import ApiClient
from netiso.handlers.login import credentials_of
from netiso.handlers.runtime import Runtime
from netiso.reconciling.reconciler import Reconciler
from netiso.rendering.environment import make_environment
from netiso.reporting.endpoint import serve
from netiso.reporting.metrics import Metrics
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
    api = ApiClient(
        # Kopf's login result (see handlers/login.py): requests wait until it arrives.
        credentials_of(memo, settings),
        timeout=config.api_timeout,
        retries=config.api_retries,
        observer=metrics.observe_request,
        connections=max(config.max_concurrency * 4, 16),
    )
    reconciler = Reconciler(
        api=api,
        environment=make_environment(config.templates_dir),
        settings=config,
        metrics=metrics,
    )
    reconciler.start()
    runtime = Runtime(settings=config, api=api, metrics=metrics, reconciler=reconciler)
    if config.metrics_port:
        runtime.endpoint = await serve(
            metrics=metrics,
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


@kopf.on.cleanup(id="netiso-cleanup")
async def cleanup(memo: kopf.Memo, **_: Any) -> None:
    """Stop the workers, the endpoint and the HTTP session."""
    runtime = memo.get("netiso")
    if not isinstance(runtime, Runtime):
        return
    await runtime.reconciler.stop()
    if runtime.endpoint is not None:
        await runtime.endpoint.cleanup()
    await runtime.api.close()
