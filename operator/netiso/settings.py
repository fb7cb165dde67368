"""Operator settings, read once from the environment at startup.

Every knob has a unit and a default; an invalid value raises SettingsError naming the variable.
Bottom layer: imports only conventions.
"""

from __future__ import annotations

import math
import os
import re
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from netiso import conventions

_DNS_NAME: Final = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")


class SettingsError(ValueError):
    """An environment variable holds a value netiso cannot use."""


def _int(env: Mapping[str, str], name: str, default: int, *, minimum: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name}: must be an integer, got {raw!r}") from None
    if value < minimum:
        raise SettingsError(f"{name}: must be >= {minimum}, got {value}")
    return value


def _float(env: Mapping[str, str], name: str, default: float, *, minimum: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name}: must be a number, got {raw!r}") from None
    # nan compares False with everything, so it would slip past the minimum check.
    if not math.isfinite(value):
        raise SettingsError(f"{name}: must be a finite number, got {raw!r}")
    if value < minimum:
        raise SettingsError(f"{name}: must be >= {minimum}, got {value}")
    return value


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if raw == "":
        return default
    if raw in ("true", "1", "yes"):
        return True
    if raw in ("false", "0", "no"):
        return False
    raise SettingsError(f"{name}: must be true or false, got {env[name]!r}")


def _switch(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if raw == "":
        return default
    if raw in ("on", "off"):
        return raw == "on"
    raise SettingsError(f"{name}: must be on or off, got {env[name]!r}")


def _names(env: Mapping[str, str], name: str) -> frozenset[str]:
    raw = env.get(name, "")
    return frozenset(part.strip() for part in raw.split(",") if part.strip())


@dataclass(frozen=True)
class Settings:
    """Every operator knob. Field comments give the environment variable, unit and default."""

    # NETISO_TEMPLATES_DIR: directory of *.yaml.j2 templates; None means the shipped ones.
    templates_dir: Path | None = None
    # NETISO_METRICS_HOST / NETISO_METRICS_PORT: where /metrics listens; 0.0.0.0:8080. Port 0
    # disables the endpoint.
    metrics_host: str = "0.0.0.0"
    metrics_port: int = 8080
    # NETISO_RESYNC_INTERVAL: seconds between full re-checks of a profile's namespaces; 300.
    resync_interval: float = 300.0
    # NETISO_MAX_CONCURRENCY: namespaces reconciled at once across the operator; 16. Workers
    # mostly wait on the API server, so 16 halves a mass repair's rounds at little CPU cost.
    # More only queue in API Priority and Fairness: three allows in flight per namespace at 16
    # about fill global-default's nominal 49 seats (64 measured: same bootstrap, 60 ms APF wait).
    max_concurrency: int = 16
    # NETISO_API_RETRIES: attempts per API request on 409/429/5xx/connection errors; 5.
    api_retries: int = 5
    # NETISO_API_TIMEOUT: seconds before one API request is abandoned; 30.
    api_timeout: float = 30.0
    # NETISO_STATUS_INTERVAL: minimum seconds between two status writes on one profile; 5.
    status_interval: float = 5.0
    # NETISO_OPERATOR_NAMESPACE (or POD_NAMESPACE): the operator's own namespace, never
    # isolated; "netiso-system".
    operator_namespace: str = "netiso-system"
    # NETISO_PROTECTED_NAMESPACES: comma-separated extra namespaces never isolated; empty.
    extra_protected_namespaces: frozenset[str] = field(default_factory=frozenset)
    # NETISO_LEADER_ELECTION: "true" (replicas elect a leader through a Lease in the operator's
    # namespace) or "false" (this process always writes: one replica only); "true".
    leader_election: bool = True
    # NETISO_LEASE_NAME: name of the coordination.k8s.io Lease (per shard: <name>-<shard>);
    # "netiso-operator".
    lease_name: str = "netiso-operator"
    # NETISO_LEASE_DURATION: seconds a Lease holds without renewal before another replica may
    # take it; 15.
    lease_duration: float = 15.0
    # NETISO_RENEW_DEADLINE: seconds after its last successful renewal at which a leader stops
    # writing and steps down; 10. Must be below the lease duration.
    renew_deadline: float = 10.0
    # NETISO_RETRY_PERIOD: seconds between two acquire or renew attempts; 2.
    retry_period: float = 2.0
    # NETISO_IDENTITY (or POD_NAME): this replica's name in the Lease; empty means hostname
    # and process id (see `holder`).
    identity: str = ""
    # NETISO_SHARDS: shards the namespaces are split into by a hash of their name, one Lease
    # each; 1.
    shards: int = 1
    # NETISO_MAX_SHARDS_PER_REPLICA: most shards one replica leads at once; 0 means all.
    max_shards_per_replica: int = 0
    # NETISO_ADMISSION: "on" (the operator keeps its ValidatingAdmissionPolicies and their
    # bindings, one per profile, in place) or "off" (a platform manages them, e.g. from
    # `netiso admission`); "on".
    admission: bool = True
    # NETISO_SIGNING_KEY_FILE: file holding the key netiso signs its policies with (mounted
    # from the Secret netiso-signing-key); None means unsigned policies (docs/limits.md). A
    # path whose file is absent is taken as None, with a warning.
    signing_key_file: Path | None = None

    @property
    def holder(self) -> str:
        """This replica's name in the Leases: the identity, else hostname and process id."""
        return self.identity or f"{socket.gethostname()}-{os.getpid()}"

    @property
    def protected_namespaces(self) -> frozenset[str]:
        """kube-system, kube-public, kube-node-lease, the operator's own and the extras."""
        return (
            conventions.ALWAYS_PROTECTED_NAMESPACES
            | {self.operator_namespace}
            | self.extra_protected_namespaces
        )

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read settings from `env` (default: os.environ); raises SettingsError."""
        env = os.environ if env is None else env
        templates = env.get("NETISO_TEMPLATES_DIR") or None
        return cls(
            templates_dir=Path(templates) if templates else None,
            metrics_host=env.get("NETISO_METRICS_HOST") or cls.metrics_host,
            metrics_port=_int(env, "NETISO_METRICS_PORT", cls.metrics_port, minimum=0),
            resync_interval=_float(env, "NETISO_RESYNC_INTERVAL", cls.resync_interval, minimum=1),
            max_concurrency=_int(env, "NETISO_MAX_CONCURRENCY", cls.max_concurrency, minimum=1),
            api_retries=_int(env, "NETISO_API_RETRIES", cls.api_retries, minimum=1),
            api_timeout=_float(env, "NETISO_API_TIMEOUT", cls.api_timeout, minimum=1),
            status_interval=_float(env, "NETISO_STATUS_INTERVAL", cls.status_interval, minimum=0),
            operator_namespace=(
                env.get("NETISO_OPERATOR_NAMESPACE")
                or env.get("POD_NAMESPACE")
                or cls.operator_namespace
            ),
            extra_protected_namespaces=_names(env, "NETISO_PROTECTED_NAMESPACES"),
            admission=_switch(env, "NETISO_ADMISSION", cls.admission),
            signing_key_file=Path(key) if (key := env.get("NETISO_SIGNING_KEY_FILE")) else None,
            **_leader_election(env),
        )


def _leader_election(env: Mapping[str, str]) -> dict[str, Any]:
    """The leader election and sharding fields, with their cross-field checks."""
    duration = _float(env, "NETISO_LEASE_DURATION", Settings.lease_duration, minimum=1)
    deadline = _float(env, "NETISO_RENEW_DEADLINE", Settings.renew_deadline, minimum=0.5)
    retry = _float(env, "NETISO_RETRY_PERIOD", Settings.retry_period, minimum=0.1)
    # The fence: a leader stops writing at the renew deadline, which must come before any
    # other replica may take the Lease (client-go checks the same two inequalities).
    if deadline >= duration:
        raise SettingsError(
            f"NETISO_RENEW_DEADLINE: must be below NETISO_LEASE_DURATION ({duration}), "
            f"got {deadline}"
        )
    if retry >= deadline:
        raise SettingsError(
            f"NETISO_RETRY_PERIOD: must be below NETISO_RENEW_DEADLINE ({deadline}), got {retry}"
        )
    lease_name = env.get("NETISO_LEASE_NAME") or Settings.lease_name
    if not _DNS_NAME.fullmatch(lease_name) or len(lease_name) > 240:
        raise SettingsError(
            f"NETISO_LEASE_NAME: must be a DNS subdomain name of at most 240 characters, "
            f"got {lease_name!r}"
        )
    return {
        "leader_election": _bool(env, "NETISO_LEADER_ELECTION", Settings.leader_election),
        "lease_name": lease_name,
        "lease_duration": duration,
        "renew_deadline": deadline,
        "retry_period": retry,
        "identity": env.get("NETISO_IDENTITY") or env.get("POD_NAME") or "",
        "shards": _int(env, "NETISO_SHARDS", Settings.shards, minimum=1),
        "max_shards_per_replica": _int(
            env, "NETISO_MAX_SHARDS_PER_REPLICA", Settings.max_shards_per_replica, minimum=0
        ),
    }
