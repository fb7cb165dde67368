"""Running one connection for real from inside a pod, for `netiso explain --probe`.

Cluster layer (API I/O). Adds an ephemeral container to the source pod that runs agnhost's
`connect` against the destination and exits; its exit code and termination message are the
observation. Ephemeral containers share the pod's network namespace, so the packet leaves
with the pod's own address and labels, as the policies see it. They cannot be removed from a
pod once added (Kubernetes keeps them in the spec), so the caller asks for this explicitly.
"""

from __future__ import annotations

import asyncio
import enum
import time
import uuid
from dataclasses import dataclass
from typing import Any, Final

# Re-exported: one default image for every probe (the enforcement probe's spec default).
from netiso.model.enforcement import DEFAULT_PROBE_IMAGE as DEFAULT_PROBE_IMAGE
from netiso.runtime.client import ApiClient

_POLL_SECONDS: Final = 0.3
# agnhost connect writes one of these words on failure (TIMEOUT, REFUSED, DNS, OTHER: ...).
_FAILURES: Final = {"TIMEOUT": "timeout", "REFUSED": "refused"}


class Observed(enum.StrEnum):
    """What the connection did on the wire."""

    CONNECTED = "connected"
    REFUSED = "refused"
    TIMEOUT = "timeout"
    ERROR = "error"
    # The probe container did not finish in time (image pull, a busy node).
    NO_ANSWER = "no-answer"


@dataclass(frozen=True)
class Observation:
    """One probe's outcome and the probe container's own words."""

    observed: Observed
    detail: str
    container: str
    seconds: float


def probe_container(
    *, name: str, image: str, address: str, port: int, protocol: str, timeout: float
) -> dict[str, Any]:
    """The ephemeral container: agnhost connect, under the restricted Pod Security profile."""
    host = f"[{address}]" if ":" in address else address
    return {
        "name": name,
        "image": image,
        "args": [
            "connect",
            f"{host}:{port}",
            f"--timeout={timeout:g}s",
            f"--protocol={protocol.lower()}",
        ],
        # Its last words (REFUSED, TIMEOUT) become the termination message: no logs API needed.
        "terminationMessagePolicy": "FallbackToLogsOnError",
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "runAsNonRoot": True,
            "runAsUser": 65534,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
    }


async def run_connection(
    api: ApiClient,
    *,
    namespace: str,
    pod: str,
    address: str,
    port: int,
    protocol: str,
    image: str = DEFAULT_PROBE_IMAGE,
    connect_seconds: float = 3.0,
    deadline: float = 60.0,
) -> Observation:
    """Connect from pod namespace/pod to address:port once (agnhost gives up after
    `connect_seconds`) and report what happened; NO_ANSWER after `deadline` seconds.

    Raises ApiError when the ephemeral container cannot be added (RBAC: `patch` on
    `pods/ephemeralcontainers` and `get` on `pods`).
    """
    name = f"netiso-probe-{uuid.uuid4().hex[:8]}"
    path = f"/api/v1/namespaces/{namespace}/pods/{pod}"
    started = time.monotonic()
    container = probe_container(
        name=name,
        image=image,
        address=address,
        port=port,
        protocol=protocol,
        timeout=connect_seconds,
    )
    await api.request(
        "PATCH",
        f"{path}/ephemeralcontainers",
        verb="patch",
        body={"spec": {"ephemeralContainers": [container]}},
        content_type="application/strategic-merge-patch+json",
    )
    while time.monotonic() - started < deadline:
        _, body = await api.request("GET", path, verb="get")
        for status in (body.get("status") or {}).get("ephemeralContainerStatuses") or ():
            if status.get("name") != name:
                continue
            terminated = (status.get("state") or {}).get("terminated")
            if terminated is not None:
                return _observation(terminated, name=name, seconds=time.monotonic() - started)
        await asyncio.sleep(_POLL_SECONDS)
    return Observation(
        Observed.NO_ANSWER,
        f"the probe container did not finish within {deadline:g} s",
        name,
        time.monotonic() - started,
    )


def _observation(terminated: dict[str, Any], *, name: str, seconds: float) -> Observation:
    message = str(terminated.get("message") or "").strip()
    if terminated.get("exitCode") == 0:
        return Observation(Observed.CONNECTED, message, name, seconds)
    for word, observed in _FAILURES.items():
        if word in message:
            return Observation(Observed(observed), message, name, seconds)
    return Observation(Observed.ERROR, message or str(terminated.get("reason", "")), name, seconds)
