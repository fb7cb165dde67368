"""What an enforcement probe round places and how it reads it back: pure pod bodies and checks.

Probing layer, pure (no I/O). A round runs three pods: the target in the opted-in namespace,
the control target beside the source in the source namespace (which no policy isolates), and a
one-shot source whose two containers each run `agnhost connect` once, to the target (the
connection the profile forbids) and to the control (the connection that proves the machinery
works). Their exit codes and termination messages are the observation: no exec, no logs API.
`expectations` asks the reachability engine whether the live policies really forbid the one and
admit the other before a round says anything.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from netiso import conventions
from netiso.model.enforcement import Connection, EnforcementProbe
from netiso.reachability.evaluation import evaluate
from netiso.reachability.policies import Policy
from netiso.reachability.snapshots import make_snapshot
from netiso.reachability.workloads import Namespace, Pod

# Every probe pod carries these two labels and nothing else, so only an allow that selects
# every pod admits it (which `expectations` finds); the sweep finds a crashed round's pods by them.
PROBE_LABEL: Final = f"{conventions.GROUP}/probe"
PROBE_PROFILE_LABEL: Final = f"{conventions.GROUP}/probe-profile"
TARGET: Final = "target"
CONTROL: Final = "control"
SOURCE: Final = "source"
# How long each `agnhost connect` waits for an answer; a blocked connection is refused at once
# by plugins that reject, and times out with plugins that drop.
CONNECT_SECONDS: Final = 3
NAME_PREFIX: Final = "netiso-probe-"
# The restricted Pod Security profile, for the pod and for each container.
_POD_SECURITY: Final = {
    "runAsNonRoot": True,
    "runAsUser": 65534,
    "runAsGroup": 65534,
    "seccompProfile": {"type": "RuntimeDefault"},
}
_CONTAINER_SECURITY: Final = {
    "allowPrivilegeEscalation": False,
    "runAsNonRoot": True,
    "readOnlyRootFilesystem": True,
    "capabilities": {"drop": ["ALL"]},
    "seccompProfile": {"type": "RuntimeDefault"},
}


@dataclass(frozen=True)
class Owner:
    """The IsolationProfile the probe pods belong to (the garbage collector removes them with
    it); `uid` "" leaves the owner reference out."""

    name: str
    uid: str = ""


def probe_selector(profile: str | None = None) -> str:
    """The label selector of every probe pod, or of one profile's."""
    return PROBE_LABEL if profile is None else f"{PROBE_LABEL},{PROBE_PROFILE_LABEL}={profile}"


def pod_name(role: str) -> str:
    """A fresh name per pod and round (a leftover of an earlier round never collides)."""
    return f"{NAME_PREFIX}{role}-{secrets.token_hex(4)}"


def _metadata(*, name: str, namespace: str, role: str, owner: Owner) -> dict[str, Any]:
    metadata: dict[str, Any] = {
        "name": name,
        "namespace": namespace,
        "labels": {PROBE_LABEL: role, PROBE_PROFILE_LABEL: owner.name},
    }
    if owner.uid:
        metadata["ownerReferences"] = [
            {
                "apiVersion": conventions.API_VERSION,
                "kind": conventions.KIND,
                "name": owner.name,
                "uid": owner.uid,
            }
        ]
    return metadata


def _pod(
    *,
    metadata: dict[str, Any],
    probe: EnforcementProbe,
    containers: list[dict[str, Any]],
    restart: str,
) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "restartPolicy": restart,
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "terminationGracePeriodSeconds": 0,
        "securityContext": dict(_POD_SECURITY),
        "containers": containers,
    }
    if probe.image_pull_secrets:
        spec["imagePullSecrets"] = [{"name": name} for name in probe.image_pull_secrets]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec}


def server_pod(
    *, name: str, namespace: str, role: str, owner: Owner, probe: EnforcementProbe
) -> dict[str, Any]:
    """A target (or control target): agnhost netexec on the probe's TCP port, Ready once it
    listens (checked from inside its own network namespace, which no policy can block)."""
    port = probe.port
    container = {
        "name": "server",
        "image": probe.image,
        "args": ["netexec", f"--http-port={port}", "--udp-port=-1"],
        "ports": [{"containerPort": port, "protocol": "TCP"}],
        "readinessProbe": {
            "exec": {
                "command": ["/agnhost", "connect", f"127.0.0.1:{port}", "--timeout=1s"],
            },
            "periodSeconds": 1,
            "timeoutSeconds": 2,
        },
        "securityContext": dict(_CONTAINER_SECURITY),
        "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}, "limits": {"memory": "64Mi"}},
    }
    metadata = _metadata(name=name, namespace=namespace, role=role, owner=owner)
    return _pod(metadata=metadata, probe=probe, containers=[container], restart="Always")


def source_pod(
    *,
    name: str,
    namespace: str,
    owner: Owner,
    probe: EnforcementProbe,
    target_ip: str,
    control_ip: str,
) -> dict[str, Any]:
    """The one-shot source: one container per connection, each exiting with its outcome."""

    def connect(container: str, address: str) -> dict[str, Any]:
        host = f"[{address}]" if ":" in address else address
        return {
            "name": container,
            "image": probe.image,
            "args": ["connect", f"{host}:{probe.port}", f"--timeout={CONNECT_SECONDS}s"],
            # Its last words (REFUSED, TIMEOUT) become the termination message: no logs API.
            "terminationMessagePolicy": "FallbackToLogsOnError",
            "securityContext": dict(_CONTAINER_SECURITY),
            "resources": {
                "requests": {"cpu": "10m", "memory": "16Mi"},
                "limits": {"memory": "64Mi"},
            },
        }

    metadata = _metadata(name=name, namespace=namespace, role=SOURCE, owner=owner)
    containers = [connect("forbidden", target_ip), connect("control", control_ip)]
    return _pod(metadata=metadata, probe=probe, containers=containers, restart="Never")


def running_address(pod: Mapping[str, Any]) -> str | None:
    """The pod's IP once it runs with every container ready; None before."""
    status = pod.get("status") or {}
    statuses = status.get("containerStatuses") or []
    if status.get("phase") != "Running" or not status.get("podIP") or not statuses:
        return None
    if not all(entry.get("ready") for entry in statuses):
        return None
    return str(status["podIP"])


def connections(pod: Mapping[str, Any]) -> dict[str, Connection] | None:
    """The source's two outcomes by container name, once both have terminated; None before."""
    found: dict[str, Connection] = {}
    for entry in (pod.get("status") or {}).get("containerStatuses") or []:
        terminated = (entry.get("state") or {}).get("terminated")
        if terminated is None:
            continue
        message = str(terminated.get("message") or "").strip()
        connected = terminated.get("exitCode") == 0
        detail = "" if connected else (message.splitlines() or [""])[-1][:200]
        found[str(entry.get("name"))] = Connection(connected, detail or "no answer")
    if "forbidden" not in found or "control" not in found:
        return None
    return found


def waiting_reasons(pods: Iterable[Mapping[str, Any]]) -> list[str]:
    """Why pods are not running yet (ErrImagePull, CreateContainerConfigError...): the words
    an inconclusive round gives."""
    reasons = []
    for pod in pods:
        name = (pod.get("metadata") or {}).get("name", "")
        for condition in (pod.get("status") or {}).get("conditions") or []:
            if condition.get("type") == "PodScheduled" and condition.get("status") == "False":
                reasons.append(f"{name}: {condition.get('reason')} {condition.get('message', '')}")
        for entry in (pod.get("status") or {}).get("containerStatuses") or []:
            waiting = (entry.get("state") or {}).get("waiting") or {}
            if waiting.get("reason") and waiting.get("reason") != "ContainerCreating":
                reasons.append(f"{name}: {waiting['reason']} {waiting.get('message', '')}".strip())
    return reasons


@dataclass(frozen=True)
class Expectations:
    """What the live policies say of the round's two connections (the engine's verdicts)."""

    forbidden_denied: bool
    control_allowed: bool
    forbidden_why: str = ""
    control_why: str = ""


def expectations(
    *,
    namespaces: Sequence[Namespace],
    policies: Sequence[Policy],
    target: Pod,
    control: Pod,
    source: Pod,
    port: int,
) -> Expectations:
    """Whether the policies deny source -> target and admit source -> control on `port`/TCP.

    Judged by what the policies admit (the profile's and any other in both namespaces), so a
    namespace whose owner opened it further is never reported as not enforced.
    """
    snapshot = make_snapshot(
        namespaces=namespaces, pods=(target, control, source), policies=policies
    )
    forbidden = evaluate(snapshot, source=source, destination=target, protocol="TCP", port=port)
    control_verdict = evaluate(
        snapshot, source=source, destination=control, protocol="TCP", port=port
    )
    return Expectations(
        forbidden_denied=not forbidden.allowed,
        control_allowed=control_verdict.allowed,
        forbidden_why=_admitting(forbidden.egress.allowed, forbidden.ingress.allowed),
        control_why=_admitting(control_verdict.egress.allowed, control_verdict.ingress.allowed),
    )


def _admitting(egress: bool, ingress: bool) -> str:
    if egress and ingress:
        return "the policies admit it"
    sides = [name for name, allowed in (("egress", egress), ("ingress", ingress)) if not allowed]
    return f"the policies deny its {' and '.join(sides)}"
