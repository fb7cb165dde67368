"""Settings.from_env(): every knob's default, how values are read, and the errors for bad ones.

Unit tests of the bottom layer (netiso.settings); no environment is read but the one passed in.
"""

from __future__ import annotations

import os
import socket
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
    assert settings.leader_election is True
    assert settings.lease_name == "netiso-operator"
    assert (settings.lease_duration, settings.renew_deadline, settings.retry_period) == (
        15.0,
        10.0,
        2.0,
    )
    assert (settings.shards, settings.max_shards_per_replica) == (1, 0)
    assert settings.admission is True


def test_leader_election_variables_are_read() -> None:
    settings = Settings.from_env(
        {
            "NETISO_LEADER_ELECTION": "false",
            "NETISO_LEASE_NAME": "netiso-eu",
            "NETISO_LEASE_DURATION": "6",
            "NETISO_RENEW_DEADLINE": "4",
            "NETISO_RETRY_PERIOD": "0.5",
            "NETISO_SHARDS": "3",
            "NETISO_MAX_SHARDS_PER_REPLICA": "2",
            "POD_NAME": "netiso-operator-abc",
        }
    )
    assert not settings.leader_election
    assert settings.lease_name == "netiso-eu"
    assert (settings.lease_duration, settings.renew_deadline, settings.retry_period) == (
        6.0,
        4.0,
        0.5,
    )
    assert (settings.shards, settings.max_shards_per_replica) == (3, 2)
    assert settings.holder == "netiso-operator-abc"
    assert Settings.from_env({"NETISO_IDENTITY": "me", "POD_NAME": "pod"}).holder == "me"


def test_without_an_identity_the_holder_is_host_and_process() -> None:
    holder = Settings.from_env({}).holder
    assert holder.endswith(f"-{os.getpid()}")
    assert holder.startswith(socket.gethostname())


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"NETISO_RENEW_DEADLINE": "15"},
            "NETISO_RENEW_DEADLINE: must be below NETISO_LEASE_DURATION (15.0), got 15.0",
        ),
        (
            {"NETISO_LEASE_DURATION": "5"},
            "NETISO_RENEW_DEADLINE: must be below NETISO_LEASE_DURATION (5.0), got 10.0",
        ),
        (
            {"NETISO_RETRY_PERIOD": "10"},
            "NETISO_RETRY_PERIOD: must be below NETISO_RENEW_DEADLINE (10.0), got 10.0",
        ),
        ({"NETISO_LEADER_ELECTION": "maybe"}, "NETISO_LEADER_ELECTION: must be true or false"),
        ({"NETISO_LEASE_NAME": "Netiso_Lease"}, "NETISO_LEASE_NAME: must be a DNS subdomain"),
        ({"NETISO_SHARDS": "0"}, "NETISO_SHARDS: must be >= 1, got 0"),
    ],
)
def test_inconsistent_leader_election_settings_are_refused(
    env: dict[str, str], message: str
) -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env(env)
    assert str(caught.value).startswith(message)


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
            "NETISO_ADMISSION": "Off",
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
        admission=False,
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
        ("NETISO_ADMISSION", "false", "NETISO_ADMISSION: must be on or off, got 'false'"),
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
