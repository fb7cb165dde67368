"""Supervising the control plane's processes: start them tied to us, probe them, stop them.

Process groups, parent-death signals, SIGTERM handling, free ports, readiness probes and the
removal of temporary state dirs left by killed runs. Part of netiso_devkit.localcluster, which
knows nothing of the operator.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import threading
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Final

_STOP_GRACE_SECONDS: Final = 10.0
_PR_SET_PDEATHSIG: Final = 1
TEMP_PREFIX: Final = "netiso-controlplane-"
# Names the process that owns a temporary state dir, so a later run can remove it if that
# process was killed (SIGKILL leaves no chance to clean up).
OWNER_FILE: Final = "owner.pid"


def interrupt_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def terminate(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the process group, then SIGKILL it if it lingers past the grace period."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=_STOP_GRACE_SECONDS)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    except ProcessLookupError:
        process.wait()


def in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def die_with_parent() -> Callable[[], None]:
    """A preexec_fn asking Linux to SIGKILL the child when its parent dies, even by SIGKILL.

    Only for the parent's violent death (a clean exit runs stop()): SIGTERM would let the API
    server spend many seconds draining against a dead etcd. The signal fires when the *thread*
    that forked exits, hence only used from the main thread.
    """
    libc = ctypes.CDLL(None, use_errno=True)
    parent = os.getpid()

    def preexec() -> None:
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        # The parent may have died between fork() and prctl(); then nobody would signal us.
        if os.getppid() != parent:
            os._exit(1)

    return preexec


def remove_orphaned_state_dirs() -> None:
    """Delete temporary state dirs whose owning process is gone (it was killed outright)."""
    for candidate in Path(tempfile.gettempdir()).glob(f"{TEMP_PREFIX}*"):
        try:
            owner = int((candidate / OWNER_FILE).read_text().strip())
        except (OSError, ValueError):
            continue
        if not Path(f"/proc/{owner}").exists():
            shutil.rmtree(candidate, ignore_errors=True)


def free_ports(count: int) -> list[int]:
    """Ports the kernel considers free right now; held open together so they differ."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def etcd_healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as response:
            return b'"health":"true"' in response.read()
    except (OSError, urllib.error.URLError):
        return False


def https_ok(url: str, *, context: ssl.SSLContext) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2, context=context) as response:
            return int(response.status) == 200
    except (OSError, urllib.error.URLError):
        return False
