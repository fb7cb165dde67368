"""Settings.from_env(): every knob's default, how values are read, and the errors for bad ones.

Unit tests of the bottom layer (netiso.settings); no environment is read but the one passed in.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from netiso.settings import Settings, SettingsError


def test_empty_environment_gives_the_documented_defaults() -> None:
    settings = Settings.from_env({})
    assert settings == Settings()
    assert settings.templates_dir is None
    assert (settings.metrics_host, settings.metrics_port) == ("0.0.0.0", 8080)
    assert settings.resync_interval == 300.0
    assert settings.max_concurrency == 16
    assert settings.api_retries == 5
    assert settings.api_timeout == 30.0
    assert settings.status_interval == 5.0
    assert settings.operator_namespace == "netiso-system"
    assert settings.extra_protected_namespaces == frozenset()


def test_empty_values_mean_the_default() -> None:
    env = {
        name: ""
        for name in (
            "NETISO_TEMPLATES_DIR",
            "NETISO_METRICS_PORT",
            "NETISO_RESYNC_INTERVAL",
            "NETISO_OPERATOR_NAMESPACE",
        )
    }
    assert Settings.from_env(env) == Settings()


def test_every_variable_is_read() -> None:
    settings = Settings.from_env(
        {
            "NETISO_TEMPLATES_DIR": "/etc/netiso/templates",
            "NETISO_METRICS_HOST": "127.0.0.1",
            "NETISO_METRICS_PORT": "0",
            "NETISO_RESYNC_INTERVAL": "60.5",
            "NETISO_MAX_CONCURRENCY": "2",
            "NETISO_API_RETRIES": "1",
            "NETISO_API_TIMEOUT": "10",
            "NETISO_STATUS_INTERVAL": "0",
            "NETISO_OPERATOR_NAMESPACE": "isolation",
            "NETISO_PROTECTED_NAMESPACES": " monitoring, ingress-nginx ,,",
        }
    )
    assert settings == Settings(
        templates_dir=Path("/etc/netiso/templates"),
        metrics_host="127.0.0.1",
        metrics_port=0,
        resync_interval=60.5,
        max_concurrency=2,
        api_retries=1,
        api_timeout=10.0,
        status_interval=0.0,
        operator_namespace="isolation",
        extra_protected_namespaces=frozenset({"monitoring", "ingress-nginx"}),
    )


def test_pod_namespace_is_the_fallback_for_the_operator_namespace() -> None:
    assert Settings.from_env({"POD_NAMESPACE": "ops"}).operator_namespace == "ops"
    both = {"POD_NAMESPACE": "ops", "NETISO_OPERATOR_NAMESPACE": "explicit"}
    assert Settings.from_env(both).operator_namespace == "explicit"


def test_protected_namespaces_always_include_system_and_operator_namespaces() -> None:
    settings = Settings.from_env(
        {"NETISO_OPERATOR_NAMESPACE": "isolation", "NETISO_PROTECTED_NAMESPACES": "vault"}
    )
    assert settings.protected_namespaces == {
        "kube-system",
        "kube-public",
        "kube-node-lease",
        "isolation",
        "vault",
    }


def test_process_environment_is_the_default_source(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NETISO_MAX_CONCURRENCY", "3")
    assert Settings.from_env().max_concurrency == 3


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("NETISO_METRICS_PORT", "http", "NETISO_METRICS_PORT: must be an integer, got 'http'"),
        ("NETISO_METRICS_PORT", "-1", "NETISO_METRICS_PORT: must be >= 0, got -1"),
        ("NETISO_MAX_CONCURRENCY", "0", "NETISO_MAX_CONCURRENCY: must be >= 1, got 0"),
        ("NETISO_MAX_CONCURRENCY", "2.5", "NETISO_MAX_CONCURRENCY: must be an integer, got '2.5'"),
        ("NETISO_API_RETRIES", "0", "NETISO_API_RETRIES: must be >= 1, got 0"),
        ("NETISO_RESYNC_INTERVAL", "5m", "NETISO_RESYNC_INTERVAL: must be a number, got '5m'"),
        ("NETISO_RESYNC_INTERVAL", "0.5", "NETISO_RESYNC_INTERVAL: must be >= 1, got 0.5"),
        ("NETISO_API_TIMEOUT", "0", "NETISO_API_TIMEOUT: must be >= 1, got 0.0"),
        ("NETISO_STATUS_INTERVAL", "-1", "NETISO_STATUS_INTERVAL: must be >= 0, got -1.0"),
    ],
)
def test_bad_values_raise_an_error_naming_the_variable(name: str, value: str, message: str) -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({name: value})
    assert str(caught.value) == message
    assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
def test_not_a_finite_number_is_rejected(value: str) -> None:
    with pytest.raises(SettingsError, match="must be a finite number"):
        Settings.from_env({"NETISO_RESYNC_INTERVAL": value})
