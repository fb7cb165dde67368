"""Connections from inside a pod: the kit's way of sending real packets between pods.

A probe runs netprobe.py under `nsenter -n -t <pid>` in the network namespace of the pod's
sandbox (found by containerd's labels), so it needs no `kubectl exec` and nothing in the pod's
image. Outcomes are typed; `open` means the connection completed. kube-router rejects rather
than drops, so a blocked probe reads `refused` (or `timeout` once ICMP is rate-limited), like a
closed port: callers compare with a port known to be open. Part of netiso_devkit.dataplane.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal

from netiso_devkit.dataplane import netprobe

Protocol = Literal["TCP", "UDP"]
PROBE_TIMEOUT_SECONDS: Final = 1.5
_SCRIPT: Final = Path(netprobe.__file__)


class ProbeError(RuntimeError):
    """A probe round could not run (the pod's namespace is gone, nsenter failed)."""


@dataclass(frozen=True)
class Target:
    """One connection to try: an address, a port and a protocol."""

    address: str
    port: int
    protocol: Protocol = "TCP"


@dataclass(frozen=True)
class Outcome:
    """What one probe observed."""

    target: Target
    result: str

    @property
    def open(self) -> bool:
        return self.result == "connected"


def probe_from(
    pid: int, targets: Sequence[Target], *, timeout: float = PROBE_TIMEOUT_SECONDS
) -> list[Outcome]:
    """Probe every target at once from the network namespace of process `pid`."""
    if not targets:
        return []
    nsenter = shutil.which("nsenter")
    if nsenter is None:
        raise ProbeError("`nsenter` (util-linux) is not installed")
    payload = json.dumps([[t.address, t.port, t.protocol] for t in targets])
    result = subprocess.run(
        [nsenter, "-n", "-t", str(pid), "--", sys.executable, "-I", str(_SCRIPT), str(timeout)],
        input=payload,
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout * 4 + 30,
    )
    if result.returncode != 0:
        raise ProbeError(f"probe from pid {pid} failed: {result.stderr.strip()}")
    results: list[str] = json.loads(result.stdout)
    return [Outcome(target, outcome) for target, outcome in zip(targets, results, strict=True)]
