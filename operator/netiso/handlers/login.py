"""Logging in to the API server: one login for Kopf, netiso's API client and the CLI.

Handlers layer. Kopf calls the login handler at startup and again whenever the API server
refuses its credentials; it reads the kubeconfig or service account exactly as the CLI does
(runtime.credentials.load_credentials, tokens trimmed as kubectl trims them) and publishes the
result to the PublishedCredentials on the memo, which netiso's client reads before every request
(and asks to log in again after its own 401).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Final

import kopf

from netiso.runtime.client import Credentials, PublishedCredentials
from netiso.runtime.credentials import CredentialsError, load_credentials

_MEMO_KEY: Final = "netiso-credentials"
log = logging.getLogger(__name__)


def credentials_of(memo: kopf.Memo, settings: kopf.OperatorSettings) -> PublishedCredentials:
    """The memo's credentials, created on first use (by startup or by the first login)."""
    source = memo.get(_MEMO_KEY)
    if not isinstance(source, PublishedCredentials):

        async def relogin() -> Credentials:
            return await asyncio.to_thread(connect)

        source = PublishedCredentials(relogin=relogin)
        memo[_MEMO_KEY] = source
    return source


@kopf.on.login(id="netiso-login")
async def login(
    memo: kopf.Memo, settings: kopf.OperatorSettings, **_: Any
) -> kopf.ConnectionInfo | None:
    """Kopf's login, run in a thread (an exec plugin may block), published for netiso too."""
    credentials = await asyncio.to_thread(connect)
    credentials_of(memo, settings).publish(credentials)
    return as_connection_info(credentials, settings=settings)


def connect() -> Credentials:
    """The CLI's login (kubeconfig as kubectl reads it, else the pod's service account)."""
    try:
        return load_credentials()
    except CredentialsError as error:
        raise kopf.LoginError(str(error)) from None


def as_connection_info(
    credentials: Credentials, *, settings: kopf.OperatorSettings
) -> kopf.ConnectionInfo:
    """netiso's credentials as Kopf's connection facts (the token read now, already trimmed)."""
    return kopf.ConnectionInfo(
        server=credentials.server,
        ca_path=credentials.ca_file,
        insecure=not credentials.verify,
        scheme="Bearer" if credentials.bearer() else None,
        token=credentials.bearer(),
        certificate_path=credentials.cert_file,
        private_key_path=credentials.key_file,
        default_namespace=credentials.namespace,
        trust_env=settings.networking.trust_env,
    )
