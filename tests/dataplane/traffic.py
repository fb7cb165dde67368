"""Helpers of the dataplane tests: the pods of a scene, probe plans, and comparisons.

A scene is a set of agnhost pods that all serve the same ports; a plan probes every ordered
pair of distinct pods on every port; a comparison lists the probes whose outcome is not the
expected one, after bounded retries (a probe can race the enforcer's last rule).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from netiso_devkit.dataplane.nodes import Dataplane, agnhost_pod
from netiso_devkit.dataplane.probing import Outcome, Target

PodKey = tuple[str, str]
# A probe: source pod, destination pod, port, protocol.
Probe = tuple[PodKey, PodKey, int, str]
RETRIES = 3
RETRY_PAUSE_SECONDS = 0.5


@dataclass(frozen=True)
class ScenePod:
    """One pod of a scene: where it lives, its labels, named ports it declares."""

    namespace: str
    name: str
    labels: Mapping[str, str]
    named_ports: Mapping[str, tuple[int, str]] = field(default_factory=dict)

    @property
    def key(self) -> PodKey:
        return (self.namespace, self.name)


@dataclass
class Scene:
    """Running pods, their addresses, and the ports every one of them serves."""

    pods: list[ScenePod]
    tcp_ports: tuple[int, ...]
    udp_port: int
    addresses: dict[PodKey, str] = field(default_factory=dict)

    def probes(self) -> list[Probe]:
        found: list[Probe] = []
        for source in self.pods:
            for target in self.pods:
                if source.key == target.key:
                    continue
                found += [(source.key, target.key, port, "TCP") for port in self.tcp_ports]
                found.append((source.key, target.key, self.udp_port, "UDP"))
        return found


def start_scene(dataplane: Dataplane, scene: Scene) -> None:
    """Create the scene's pods and record their addresses."""
    bodies = [
        agnhost_pod(
            name=pod.name,
            namespace=pod.namespace,
            labels=pod.labels,
            tcp_ports=scene.tcp_ports,
            udp_port=scene.udp_port,
            named_ports=pod.named_ports,
        )
        for pod in scene.pods
    ]
    scene.addresses.update(dataplane.run_pods(bodies, timeout=120))


def observe(
    dataplane: Dataplane, scene: Scene, probes: Sequence[Probe], *, timeout: float = 1.5
) -> dict[Probe, str]:
    """One round: every probe at once, grouped by source pod (`timeout` seconds each)."""
    plan: dict[PodKey, list[Target]] = {}
    for source, target, port, protocol in probes:
        plan.setdefault(source, []).append(
            Target(scene.addresses[target], port, "UDP" if protocol == "UDP" else "TCP")
        )
    outcomes = dataplane.probe_all(plan, timeout=timeout)
    observed: dict[Probe, str] = {}
    cursor: dict[PodKey, int] = {}
    for probe in probes:
        index = cursor.get(probe[0], 0)
        cursor[probe[0]] = index + 1
        outcome: Outcome = outcomes[probe[0]][index]
        observed[probe] = outcome.result
    return observed


def mismatches(
    dataplane: Dataplane,
    scene: Scene,
    expected: Callable[[Probe], bool],
    *,
    probes: Sequence[Probe] | None = None,
) -> tuple[dict[Probe, str], list[str]]:
    """Probe, retry the disagreeing probes up to RETRIES times, and describe what still
    disagrees. Returns the final observations and one line per disagreement."""
    wanted = list(probes if probes is not None else scene.probes())
    observed = observe(dataplane, scene, wanted)
    for _ in range(RETRIES):
        wrong = [p for p in wanted if (observed[p] == "connected") != expected(p)]
        if not wrong:
            break
        time.sleep(RETRY_PAUSE_SECONDS)
        observed.update(observe(dataplane, scene, wrong))
    lines = [
        f"{describe(p)}: expected {'open' if expected(p) else 'blocked'}, observed {observed[p]}"
        for p in wanted
        if (observed[p] == "connected") != expected(p)
    ]
    return observed, lines


def describe(probe: Probe) -> str:
    source, target, port, protocol = probe
    return f"{source[0]}/{source[1]} -> {target[0]}/{target[1]} {protocol} {port}"
