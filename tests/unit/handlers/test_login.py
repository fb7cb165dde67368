"""The operator's login: Kopf's connection facts become netiso's credentials, shared on the memo.

Unit tests of netiso.handlers.login (no server: conversion and memo bookkeeping only).
"""

from __future__ import annotations

import kopf
import pytest

from netiso.handlers.login import as_credentials, credentials_of
from netiso.runtime.credentials import PublishedCredentials


def test_a_bearer_token_and_kopfs_tls_are_taken_as_they_are() -> None:
    info = kopf.ConnectionInfo(
        server="https://api.example:6443",
        scheme="Bearer",
        token="t0ken",
        insecure=True,
        default_namespace="netiso-system",
    )
    credentials = as_credentials(info)
    assert (credentials.server, credentials.bearer(), credentials.namespace) == (
        "https://api.example:6443",
        "t0ken",
        "netiso-system",
    )
    assert credentials.verify is False
    assert credentials.ssl_context is not None
    assert credentials.ssl_context.check_hostname is False


def test_plain_http_needs_no_tls_context() -> None:
    credentials = as_credentials(kopf.ConnectionInfo(server="http://127.0.0.1:8080", token="t"))
    assert credentials.ssl_context is None


@pytest.mark.parametrize(
    "info",
    [
        kopf.ConnectionInfo(server="https://x", username="u", password="p"),
        kopf.ConnectionInfo(server="https://x", scheme="Digest", token="t"),
    ],
    ids=["basic", "digest"],
)
def test_other_schemes_are_refused_at_login(info: kopf.ConnectionInfo) -> None:
    with pytest.raises(kopf.LoginError, match="only bearer tokens and client certificates"):
        as_credentials(info)


def test_startup_and_login_share_one_credentials_source() -> None:
    memo = kopf.Memo()
    settings = kopf.OperatorSettings()
    first = credentials_of(memo, settings)
    assert isinstance(first, PublishedCredentials)
    assert credentials_of(memo, settings) is first
