"""The operator's login: the CLI's credentials become Kopf's connection facts, shared on the memo.

Unit tests of netiso.handlers.login (no server: conversion and memo bookkeeping only).
"""

from __future__ import annotations

from pathlib import Path

import kopf
import pytest
import yaml

from netiso.handlers.login import as_connection_info, connect, credentials_of
from netiso.runtime.credentials import Credentials, PublishedCredentials


def test_a_token_and_the_tls_files_are_handed_to_kopf() -> None:
    credentials = Credentials(
        server="https://api.example:6443",
        ca_file="/ca.crt",
        token="t0ken",
        verify=False,
        namespace="netiso-system",
    )
    info = as_connection_info(credentials, settings=kopf.OperatorSettings())
    assert (info.server, info.scheme, info.token, info.ca_path, info.insecure) == (
        "https://api.example:6443",
        "Bearer",
        "t0ken",
        "/ca.crt",
        True,
    )
    assert info.default_namespace == "netiso-system"


def test_a_client_certificate_needs_no_token() -> None:
    credentials = Credentials(server="https://x", cert_file="/c.crt", key_file="/c.key")
    info = as_connection_info(credentials, settings=kopf.OperatorSettings())
    assert (info.certificate_path, info.private_key_path) == ("/c.crt", "/c.key")
    assert (info.scheme, info.token) == (None, None)


def test_a_token_file_ending_in_a_newline_reaches_kopf_trimmed(tmp_path: Path) -> None:
    # aiohttp refuses a header with a newline; kubectl trims the file, so the operator does too.
    token = tmp_path / "token"
    token.write_text("t0ken\n")
    credentials = Credentials(server="https://x", token_file=str(token))
    assert as_connection_info(credentials, settings=kopf.OperatorSettings()).token == "t0ken"


def test_the_operator_reads_the_kubeconfig_the_cli_reads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = tmp_path / "token"
    token.write_text("from-file\n")
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": "c",
        "clusters": [{"name": "k", "cluster": {"server": "http://127.0.0.1:1"}}],
        "users": [{"name": "u", "user": {"tokenFile": str(token)}}],
        "contexts": [{"name": "c", "context": {"cluster": "k", "user": "u"}}],
    }
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(config))
    monkeypatch.setenv("KUBECONFIG", str(path))
    credentials = connect()
    assert (credentials.server, credentials.bearer()) == ("http://127.0.0.1:1", "from-file")


def test_no_credentials_is_a_login_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "missing"))
    with pytest.raises(kopf.LoginError, match="missing"):
        connect()


def test_startup_and_login_share_one_credentials_source() -> None:
    memo = kopf.Memo()
    settings = kopf.OperatorSettings()
    first = credentials_of(memo, settings)
    assert isinstance(first, PublishedCredentials)
    assert credentials_of(memo, settings) is first
