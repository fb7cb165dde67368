"""Logging in to the API server: Kopf's own login, shared with netiso's API client.

Handlers layer. Kopf calls the login handler at startup and again whenever the API server
refuses its credentials; each result is published to the PublishedCredentials on the memo, which
netiso's client reads before every request (and asks to log in again after its own 401).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Final

import kopf

from netiso.runtime.client import Credentials, PublishedCredentials

_MEMO_KEY: Final = "netiso-credentials"
log = logging.getLogger(__name__)


def credentials_of(memo: kopf.Memo, settings: kopf.OperatorSettings) -> PublishedCredentials:
    """The memo's credentials, created on first use (by startup or by the first login)."""
    source = memo.get(_MEMO_KEY)
    if not isinstance(source, PublishedCredentials):

        async def relogin() -> Credentials:
            return await asyncio.to_thread(connect, settings=settings)

        source = PublishedCredentials(relogin=relogin)
        memo[_MEMO_KEY] = source
    return source


@kopf.on.login(id="netiso-login")
async def login(
    memo: kopf.Memo, settings: kopf.OperatorSettings, **_: Any
) -> kopf.ConnectionInfo | None:
    """Kopf's login, run in a thread (an exec plugin may block), published for netiso too."""
    info = await asyncio.to_thread(connection_info, settings=settings)
    credentials_of(memo, settings).publish(as_credentials(info))
    return info


def connection_info(*, settings: kopf.OperatorSettings) -> kopf.ConnectionInfo:
    """What Kopf's default login would find: in a pod, the service account; outside, the
    kubeconfig with every auth kind (exec plugins, OIDC, tokens, client certificates).

    The kubernetes client does the kubeconfig work when installed; without it, Kopf's own
    readers cover the service account and plain kubeconfigs (no exec plugins).
    """
    for way in (kopf.login_via_client, kopf.login_with_service_account, kopf.login_with_kubeconfig):
        info = way(logger=log, settings=settings)
        if info is not None:
            return info
    raise kopf.LoginError("no service account and no kubeconfig: cannot reach the API server")


def connect(*, settings: kopf.OperatorSettings) -> Credentials:
    """Log in again (after a 401 netiso's client saw first) and convert for its use."""
    return as_credentials(connection_info(settings=settings))


def as_credentials(info: kopf.ConnectionInfo) -> Credentials:
    """Kopf's connection facts as netiso's: TLS exactly as Kopf builds it, the token as is."""
    if info.username or (info.scheme and info.scheme.lower() != "bearer"):
        raise kopf.LoginError(
            "only bearer tokens and client certificates are supported, not "
            f"{info.scheme or 'basic'} authentication"
        )
    https = info.server.startswith("https")
    return Credentials(
        server=info.server,
        token=info.token,
        verify=not info.insecure,
        namespace=info.default_namespace,
        ssl_context=info.as_ssl_context() if https else None,
    )
