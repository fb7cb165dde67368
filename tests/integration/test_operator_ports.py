"""An operator that cannot listen on its metrics or health port exits non-zero, saying why.

Without /metrics and /readyz (or Kopf's /healthz) the pod never turns Ready, nothing scrapes
it and no alert can fire, so staying up would hide the fault. Run as users run it
(`kopf run -A -m netiso.main`) against the real API server, with the port held by another
socket.
"""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from netiso_devkit.harness import OperatorProcess
from netiso_devkit.localcluster.controlplane import ControlPlane

pytestmark = pytest.mark.integration

# Kopf's startup, the runtime's construction and the failing bind take a few seconds; the old
# behaviour was a retry every 60 s, forever.
EXIT_WITHIN = 45.0


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A port on 127.0.0.1 that another socket listens on for the test."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield int(holder.getsockname()[1])


@pytest.mark.parametrize("which", ["metrics", "liveness"])
def test_a_taken_port_stops_the_operator_with_a_non_zero_exit(
    control_plane: ControlPlane, taken_port: int, tmp_path: Path, which: str
) -> None:
    operator = OperatorProcess(
        kubeconfig=control_plane.admin_kubeconfig,
        log_path=tmp_path / "operator.log",
        env={"NETISO_LEADER_ELECTION": "false"},
    )
    if which == "metrics":
        operator.metrics_port = taken_port
    else:
        operator.liveness_port = taken_port
    operator.start(wait_ready=False)
    assert operator.process is not None
    try:
        code = operator.process.wait(timeout=EXIT_WITHIN)
    except subprocess.TimeoutExpired:
        operator.stop()
        pytest.fail(f"still running {EXIT_WITHIN} s after failing to bind:\n{operator.log()}")
    log = operator.log()
    assert code != 0, log
    assert f"{taken_port}): address already in use" in log, log
    if which == "metrics":
        assert (
            f"cannot serve /metrics and /readyz on 127.0.0.1:{taken_port} "
            "(NETISO_METRICS_HOST, NETISO_METRICS_PORT)"
        ) in log, log
        assert "will try again" not in log, log
