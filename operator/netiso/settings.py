"""Operator settings, read once from the environment at startup.

Every knob has a unit and a default; an invalid value raises SettingsError naming the variable.
Bottom layer: imports only conventions.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from netiso import conventions


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
        )
