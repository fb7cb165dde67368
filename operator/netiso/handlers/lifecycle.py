"""Operator startup and cleanup: Kopf tuning, then the runtime built by assembly.py.

Handlers layer. Everything with a lifetime is built by `build_runtime()` (never at import
time) and kept on Kopf's memo; cleanup stops it.
"""

from __future__ import annotations

import logging
from typing import Any

import kopf

from netiso import conventions
from netiso.assembly import Runtime, build_runtime
from netiso.handlers.login import credentials_of
from netiso.runtime.keys import SigningKeyError, load_signer
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
    """Tune Kopf, build the runtime (assembly.py) and start it; a bad setting stops the
    operator with a clear message."""
    tune(settings)
    try:
        config = Settings.from_env()
        signer = load_signer(config.signing_key_file)
    except (SettingsError, SigningKeyError) as exc:
        raise kopf.PermanentError(str(exc)) from exc
    # Kopf's login result (see handlers/login.py): requests wait until it arrives.
    runtime = build_runtime(config, credentials=credentials_of(memo, settings), signer=signer)
    try:
        await runtime.start()
    except BaseException as exc:
        await runtime.stop()  # nothing keeps running behind a failed startup
        # A port that cannot be bound stays so: without /metrics and /readyz the pod never
        # turns Ready and nothing alerts, so exit (non-zero) and let the kubelet or a person
        # see it, rather than Kopf retrying the startup every minute.
        if isinstance(exc, OSError):
            raise kopf.PermanentError(
                f"cannot serve /metrics and /readyz on {config.metrics_host}:"
                f"{config.metrics_port} (NETISO_METRICS_HOST, NETISO_METRICS_PORT): {exc}"
            ) from exc
        raise
    memo["netiso"] = runtime


@kopf.on.cleanup(id="netiso-cleanup")
async def cleanup(memo: kopf.Memo, **_: Any) -> None:
    """Stop the runtime in its cleanup order (assembly.Runtime.stop)."""
    runtime = memo.get("netiso")
    if isinstance(runtime, Runtime):
        await runtime.stop()
