"""Credentials for the API server: from a kubeconfig or the pod's service account, or published.

Cluster layer. The CLI loads a kubeconfig the way kubectl does (every auth kind the kubernetes
client supports); the operator publishes what Kopf's login handler obtained, so Kopf and
netiso's own client share one login and one refresh after a 401.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import ssl
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Protocol


class CredentialsError(Exception):
    """No usable connection facts: no kubeconfig, an unknown context, a failed exec plugin."""


# Where a pod finds its service account (the kubelet mounts and rotates these files).
SERVICE_ACCOUNT_DIR: Final = Path("/var/run/secrets/kubernetes.io/serviceaccount")


@dataclass(frozen=True)
class Credentials:
    """Where the API server is and how to prove who we are. Exactly what a kubeconfig holds.

    `ssl_context`, when given (the operator's, built by Kopf's login), replaces the TLS fields.
    `namespace` is the kubeconfig context's namespace (None when it names none).
    """

    server: str
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    token: str | None = None
    token_file: str | None = None
    verify: bool = True
    namespace: str | None = None
    ssl_context: ssl.SSLContext | None = field(default=None, compare=False)

    def bearer(self) -> str | None:
        """The bearer token, re-read from token_file each time (projected tokens rotate)."""
        if self.token_file:
            return Path(self.token_file).read_text().strip()
        return self.token


class CredentialsSource(Protocol):
    """Gives the client its credentials, and newer ones after the API server refuses them."""

    async def current(self) -> Credentials:
        """The credentials to use now (may wait until some are known)."""
        ...

    async def refreshed(self, stale: Credentials) -> Credentials | None:
        """Credentials newer than `stale` after a 401, or None when there are none."""
        ...


@dataclass(frozen=True)
class FixedCredentials:
    """Credentials that never change: a CLI run, a test."""

    credentials: Credentials

    async def current(self) -> Credentials:
        return self.credentials

    async def refreshed(self, stale: Credentials) -> Credentials | None:
        return None


Relogin = Callable[[], Awaitable[Credentials]]


class PublishedCredentials:
    """Credentials obtained elsewhere and published here: in the operator, by Kopf's login.

    `current()` waits for the first publication. After a 401, `refreshed()` returns what was
    published since, or logs in again through `relogin` (once for all concurrent callers).
    """

    def __init__(self, *, relogin: Relogin | None = None) -> None:
        self._relogin = relogin
        self._credentials: Credentials | None = None
        self._published = asyncio.Event()
        self._lock = asyncio.Lock()

    def publish(self, credentials: Credentials) -> None:
        """Use `credentials` from now on (call from the event loop's thread)."""
        self._credentials = credentials
        self._published.set()

    async def current(self) -> Credentials:
        await self._published.wait()
        assert self._credentials is not None  # set before the event
        return self._credentials

    async def refreshed(self, stale: Credentials) -> Credentials | None:
        async with self._lock:
            current = await self.current()
            if current != stale:
                return current
            if self._relogin is None:
                return None
            fresh = await self._relogin()
            self.publish(fresh)
            return fresh if fresh != stale else None


def load_credentials(kubeconfig: str | None = None, *, context: str | None = None) -> Credentials:
    """Connection facts the way kubectl finds them, with every auth kind the kubernetes client
    supports (client certificates, token and tokenFile, exec plugins, OIDC).

    The kubeconfig is `kubeconfig`, else $KUBECONFIG (several files merged), else
    ~/.kube/config; with none of them, the service account of the pod we run in. Blocking: an
    exec plugin runs here. Raises CredentialsError with a message for the user.
    """
    from kubernetes import config as k8s_config

    if kubeconfig is None and not _kubeconfig_configured():
        if (SERVICE_ACCOUNT_DIR / "token").is_file() and os.environ.get("KUBERNETES_SERVICE_HOST"):
            return _in_cluster_credentials()
        raise CredentialsError(
            "no kubeconfig: pass --kubeconfig, set KUBECONFIG or create ~/.kube/config"
        )
    files = kubeconfig or os.environ.get("KUBECONFIG") or str(_DEFAULT_KUBECONFIG)
    try:
        with _kubeconfig_errors() as errors:
            contexts, active = k8s_config.list_kube_config_contexts(config_file=files)
            names = [str(entry.get("name")) for entry in contexts or []]
            if context is not None and context not in names:
                raise CredentialsError(
                    f"context {json.dumps(context)} not found in {files} "
                    f"(contexts: {', '.join(names) or 'none'})"
                )
            chosen = next(
                entry
                for entry in contexts
                if entry.get("name") == (context or (active or {}).get("name"))
            )
            configuration = _load_kubeconfig(files, context=context)
    except k8s_config.ConfigException as error:
        raise CredentialsError(f"unusable kubeconfig {files}: {one_line(error)}") from None
    except StopIteration:
        raise CredentialsError(f"no current-context in {files}: pass --context") from None
    except OSError as error:
        raise CredentialsError(f"cannot read kubeconfig {files}: {error}") from None
    if errors:
        # The kubernetes client only logs a failed exec plugin and goes on without a token.
        raise CredentialsError(f"kubeconfig {files}: {'; '.join(errors)}")
    header = configuration.get_api_key_with_prefix(
        "BearerToken"
    ) or configuration.get_api_key_with_prefix("authorization")
    scheme, _, token = (header or "").partition(" ")
    if header and scheme.lower() != "bearer":
        raise CredentialsError(
            f"kubeconfig {files}: {scheme} authentication is not supported (only tokens, "
            "client certificates, exec plugins and OIDC; Kubernetes removed basic auth in 1.19)"
        )
    namespace = ((chosen.get("context") or {}).get("namespace")) or None
    return Credentials(
        server=configuration.host,
        ca_file=configuration.ssl_ca_cert,
        cert_file=configuration.cert_file,
        key_file=configuration.key_file,
        # client-go trims a tokenFile's trailing newline; the kubernetes client does not.
        token=token.strip() or None,
        verify=bool(configuration.verify_ssl),
        namespace=namespace,
    )


_DEFAULT_KUBECONFIG: Final = Path("~/.kube/config").expanduser()


def context_names(kubeconfig: str | None = None) -> list[str]:
    """The context names of the kubeconfig `kubeconfig`, else $KUBECONFIG (several files
    merged), else ~/.kube/config; none without one. For shell completion of --context."""
    from kubernetes import config as k8s_config

    if kubeconfig is None and not _kubeconfig_configured():
        return []
    files = kubeconfig or os.environ.get("KUBECONFIG") or str(_DEFAULT_KUBECONFIG)
    with _kubeconfig_errors():
        contexts, _ = k8s_config.list_kube_config_contexts(config_file=files)
    return [str(entry.get("name")) for entry in contexts or []]


def _kubeconfig_configured() -> bool:
    return bool(os.environ.get("KUBECONFIG")) or _DEFAULT_KUBECONFIG.is_file()


def _in_cluster_credentials() -> Credentials:
    host, port = os.environ["KUBERNETES_SERVICE_HOST"], os.environ.get("KUBERNETES_SERVICE_PORT")
    if ":" in host:  # IPv6
        host = f"[{host}]"
    namespace_file = SERVICE_ACCOUNT_DIR / "namespace"
    return Credentials(
        server=f"https://{host}:{port or 443}",
        ca_file=str(SERVICE_ACCOUNT_DIR / "ca.crt"),
        token_file=str(SERVICE_ACCOUNT_DIR / "token"),
        namespace=namespace_file.read_text().strip() if namespace_file.is_file() else None,
    )


def _load_kubeconfig(files: str, *, context: str | None) -> Any:
    from kubernetes import client as k8s_client
    from kubernetes import config as k8s_config

    configuration = k8s_client.Configuration()
    # persist_config=False: never write refreshed OIDC tokens back into the user's file.
    k8s_config.load_kube_config(
        config_file=files,
        context=context,
        client_configuration=configuration,
        persist_config=False,
    )
    return configuration


@contextlib.contextmanager
def _kubeconfig_errors() -> Iterator[list[str]]:
    """Collect what the kubernetes client logs at ERROR while loading (a failed exec plugin)."""
    errors: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            errors.append(one_line(record.getMessage()))

    handler = Collect(level=logging.ERROR)
    root = logging.getLogger()
    # The client logs through the root logger; keep those lines off the user's terminal.
    handlers = root.handlers[:]
    root.handlers = [handler]
    try:
        yield errors
    finally:
        root.handlers = handlers


def one_line(error: object, limit: int = 300) -> str:
    """An error message on one line, cut to `limit` characters."""
    text = " ".join(str(error).split())
    return text if len(text) <= limit else f"{text[:limit]}..."
