"""Credentials: kubeconfigs loaded as kubectl loads them, and the client's refresh after a 401.

Unit tests of the cluster layer (netiso.runtime.credentials, netiso.runtime.client). The 401
tests run the real ApiClient against a small local HTTP server that accepts one token only.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp import web

from netiso.runtime.client import ApiClient, ApiError
from netiso.runtime.credentials import (
    Credentials,
    CredentialsError,
    PublishedCredentials,
    load_credentials,
)


def kubeconfig(tmp_path: Path, *, user: dict[str, Any], namespace: str | None = None) -> Path:
    context: dict[str, Any] = {"cluster": "c", "user": "u"}
    if namespace:
        context["namespace"] = namespace
    path = tmp_path / "config"
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "current-context": "ctx",
                "clusters": [{"name": "c", "cluster": {"server": "http://127.0.0.1:9"}}],
                "users": [{"name": "u", "user": user}],
                "contexts": [{"name": "ctx", "context": context}],
            }
        )
    )
    return path


def test_a_token_kubeconfig_yields_the_bearer_token(tmp_path: Path) -> None:
    # kubernetes >= 36 keeps it under api_key["BearerToken"], no longer "authorization".
    credentials = load_credentials(str(kubeconfig(tmp_path, user={"token": "s3cret"})))
    assert credentials.token == "s3cret"
    assert credentials.bearer() == "s3cret"
    assert credentials.server == "http://127.0.0.1:9"


def test_a_token_file_is_read(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("from-file\n")
    credentials = load_credentials(str(kubeconfig(tmp_path, user={"tokenFile": str(token)})))
    assert credentials.bearer() == "from-file"


def test_the_context_namespace_is_kept(tmp_path: Path) -> None:
    path = kubeconfig(tmp_path, user={"token": "t"}, namespace="team-a")
    assert load_credentials(str(path)).namespace == "team-a"
    assert load_credentials(str(kubeconfig(tmp_path, user={"token": "t"}))).namespace is None


def test_an_exec_plugin_token_is_used(tmp_path: Path) -> None:
    plugin = {
        "apiVersion": "client.authentication.k8s.io/v1",
        "command": "sh",
        "args": [
            "-c",
            'echo \'{"apiVersion": "client.authentication.k8s.io/v1", "kind": "ExecCredential",'
            ' "status": {"token": "from-plugin"}}\'',
        ],
        "interactiveMode": "Never",
    }
    credentials = load_credentials(str(kubeconfig(tmp_path, user={"exec": plugin})))
    assert credentials.token == "from-plugin"


def test_basic_auth_is_refused_by_name(tmp_path: Path) -> None:
    path = kubeconfig(tmp_path, user={"username": "u", "password": "p"})
    with pytest.raises(CredentialsError, match="Basic authentication is not supported"):
        load_credentials(str(path))


def test_kubeconfig_from_the_environment_and_none_at_all(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.setattr(
        "netiso.runtime.credentials._DEFAULT_KUBECONFIG", tmp_path / ".kube" / "config"
    )
    monkeypatch.delenv("KUBECONFIG", raising=False)
    with pytest.raises(CredentialsError, match=r"^no kubeconfig: pass --kubeconfig"):
        load_credentials()
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig(tmp_path, user={"token": "env"})))
    assert load_credentials().token == "env"


def test_in_a_pod_the_service_account_is_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "token").write_text("sa-token")
    (tmp_path / "namespace").write_text("netiso-system")
    monkeypatch.setattr("netiso.runtime.credentials.SERVICE_ACCOUNT_DIR", tmp_path)
    monkeypatch.setattr(
        "netiso.runtime.credentials._DEFAULT_KUBECONFIG", tmp_path / "no-such-config"
    )
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "fd00::1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "6443")
    credentials = load_credentials()
    assert credentials.server == "https://[fd00::1]:6443"
    assert credentials.bearer() == "sa-token"
    assert credentials.namespace == "netiso-system"


# --- the client after a 401 ------------------------------------------------------------------


@pytest.fixture
async def server() -> AsyncIterator[tuple[str, list[str]]]:
    """An HTTP server accepting only `Bearer good`; yields its URL and the tokens it saw."""
    seen: list[str] = []

    async def handle(request: web.Request) -> web.Response:
        seen.append(request.headers.get("Authorization", ""))
        if request.headers.get("Authorization") != "Bearer good":
            return web.json_response({"reason": "Unauthorized", "message": "no"}, status=401)
        return web.json_response({"kind": "NamespaceList", "items": []})

    app = web.Application()
    app.router.add_get("/api/v1/namespaces", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield f"http://127.0.0.1:{port}", seen
    await runner.cleanup()


async def test_a_401_logs_in_again_once_and_retries(server: tuple[str, list[str]]) -> None:
    url, seen = server
    logins: list[int] = []

    async def relogin() -> Credentials:
        logins.append(1)
        return Credentials(server=url, token="good")

    source = PublishedCredentials(relogin=relogin)
    source.publish(Credentials(server=url, token="expired"))
    api = ApiClient(source, retries=1)
    try:
        status, _ = await api.request("GET", "/api/v1/namespaces", verb="list")
        # Concurrent requests after the refresh use the new token without another login.
        await asyncio.gather(
            *(api.request("GET", "/api/v1/namespaces", verb="list") for _ in range(3))
        )
    finally:
        await api.close()
    assert status == 200
    assert seen == ["Bearer expired", "Bearer good", "Bearer good", "Bearer good", "Bearer good"]
    assert logins == [1]


async def test_fixed_credentials_refused_are_an_api_error(server: tuple[str, list[str]]) -> None:
    url, seen = server
    api = ApiClient(Credentials(server=url, token="wrong"), retries=3)
    try:
        with pytest.raises(ApiError) as caught:
            await api.request("GET", "/api/v1/namespaces", verb="list")
    finally:
        await api.close()
    assert (caught.value.status, caught.value.method, caught.value.path) == (
        401,
        "GET",
        "/api/v1/namespaces",
    )
    assert seen == ["Bearer wrong"]  # a 401 is an answer, not retried


async def test_requests_wait_for_the_first_login(server: tuple[str, list[str]]) -> None:
    url, _ = server
    source = PublishedCredentials()
    api = ApiClient(source)
    try:
        pending = asyncio.ensure_future(api.request("GET", "/api/v1/namespaces", verb="list"))
        await asyncio.sleep(0.05)
        assert not pending.done()
        source.publish(Credentials(server=url, token="good"))
        status, _ = await asyncio.wait_for(pending, timeout=10)
    finally:
        await api.close()
    assert status == 200


async def test_new_connection_facts_get_a_new_session_and_the_old_one_closes(
    server: tuple[str, list[str]],
) -> None:
    url, seen = server
    source = PublishedCredentials()
    source.publish(Credentials(server=url, token="good"))
    api = ApiClient(source, timeout=0.2)
    try:
        await api.request("GET", "/api/v1/namespaces", verb="list")
        first = api._session
        # Same server, another address form: what a login with new certificates looks like.
        source.publish(Credentials(server=url.replace("127.0.0.1", "localhost"), token="good"))
        await api.request("GET", "/api/v1/namespaces", verb="list")
        assert api._session is not first
        assert first is not None
        assert not first.closed
        await asyncio.sleep(0.5)  # one request timeout later
        assert first.closed
    finally:
        await api.close()
    assert seen == ["Bearer good", "Bearer good"]
