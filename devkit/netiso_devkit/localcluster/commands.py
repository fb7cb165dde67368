"""`netiso cluster up|down|env|status`: a local control plane that outlives the command.

`up` starts a detached runner (`python -m netiso_devkit.localcluster --state-dir DIR`, see
run_detached) that holds a ControlPlane until SIGTERM; the other commands read its state directory.
Part of netiso_devkit.localcluster; `netiso` finds add_cluster_commands() through the
`netiso.cli` entry point group.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shlex
import shutil
import signal
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path
from types import FrameType
from typing import Any, Final

from netiso_devkit.localcluster.binaries import BinariesError, ensure_binaries
from netiso_devkit.localcluster.certificates import CertificateError
from netiso_devkit.localcluster.commandlines import CONTROLLERS, WORKLOAD_CONTROLLERS
from netiso_devkit.localcluster.controlplane import ControlPlane, ControlPlaneError

STATE_DIR_ENV: Final = "NETISO_STATE_DIR"
RUNNER_MODULE: Final = "netiso_devkit.localcluster"
# Building on a cold cache happens in `up` itself, so the runner only has to start processes.
_READY_TIMEOUT_SECONDS: Final = 180.0
_STOP_TIMEOUT_SECONDS: Final = 30.0


@dataclass(frozen=True)
class ClusterState:
    """The files of one detached control plane, all under `root`."""

    root: Path

    @property
    def plane(self) -> Path:
        return self.root / "plane"

    @property
    def bin(self) -> Path:
        return self.root / "bin"

    @property
    def runner_pid(self) -> Path:
        return self.root / "runner.pid"

    @property
    def runner_log(self) -> Path:
        return self.root / "runner.log"

    @property
    def ready(self) -> Path:
        return self.root / "ready.json"

    def read_ready(self) -> dict[str, Any] | None:
        """What the runner wrote once the control plane was ready; None before or after."""
        try:
            data: dict[str, Any] = json.loads(self.ready.read_text())
        except (OSError, ValueError):
            return None
        return data

    def runner_alive(self) -> int | None:
        """The runner's pid if it is running (and is ours), else None."""
        try:
            pid = int(self.runner_pid.read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if _cmdline_contains(pid, RUNNER_MODULE) else None


def default_state_dir() -> Path:
    """$NETISO_STATE_DIR, else $XDG_STATE_HOME/netiso/cluster, else ~/.local/state/netiso/..."""
    explicit = os.environ.get(STATE_DIR_ENV)
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_STATE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".local" / "state"
    return base / "netiso" / "cluster"


def add_cluster_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register `cluster up|down|env|status`; each sets func(args) -> exit code.

    The same callable is also set as `handler`, the name netiso.cli.app dispatches on.
    """
    cluster = subparsers.add_parser(
        "cluster",
        help="run a local Kubernetes control plane (etcd, kube-apiserver, controller-manager)",
        description="A local control plane for trying netiso and running its tests.",
    )
    cluster.add_argument(
        "--state-dir",
        type=Path,
        default=None,
        help=f"where the running cluster keeps its files (default: ${STATE_DIR_ENV} or "
        "~/.local/state/netiso/cluster)",
    )
    actions = cluster.add_subparsers(dest="cluster_command", metavar="ACTION", required=True)
    up = actions.add_parser("up", help="build if needed, start in the background, print exports")
    up.add_argument(
        "--dataplane",
        action="store_true",
        help="also run a node (containerd, kubelet, kube-scheduler) with a test-only "
        "NetworkPolicy enforcer (kube-router), so pods run and policies act on packets; root",
    )
    up.set_defaults(func=cluster_up, handler=cluster_up)
    down = actions.add_parser("down", help="stop the background cluster and delete its state")
    down.set_defaults(func=cluster_down, handler=cluster_down)
    env = actions.add_parser("env", help="print `export KUBECONFIG=...` and `export PATH=...`")
    env.set_defaults(func=cluster_env, handler=cluster_env)
    status = actions.add_parser("status", help="say whether it runs, where, which versions")
    status.set_defaults(func=cluster_status, handler=cluster_status)


def _state(args: argparse.Namespace) -> ClusterState:
    given = getattr(args, "state_dir", None)
    return ClusterState(Path(given) if given else default_state_dir())


def cluster_up(args: argparse.Namespace) -> int:
    """Start the detached control plane unless it runs already; the last line is the export."""
    state = _state(args)
    ready = state.read_ready()
    if state.runner_alive() is not None and ready is not None and _readyz(ready):
        _say(f"netiso: cluster already running at {ready['server']}")
        _print_exports(state, ready, path=False)
        return 0
    # Leftovers of a crashed or half-started run: stop and remove them before starting anew.
    if not _cleanup(state, quiet=True):
        return 1
    dataplane = bool(getattr(args, "dataplane", False))
    try:
        binaries = ensure_binaries(progress=_say)
        if dataplane:
            # Built here, like the control plane, so the runner only starts processes.
            from netiso_devkit.dataplane.kuberouter import ensure_kube_router
            from netiso_devkit.dataplane.nodebuilds import ensure_node_programs

            ensure_node_programs(progress=_say)
            ensure_kube_router(progress=_say)
    except BinariesError as error:
        _say(f"netiso: {error}")
        return 1
    state.bin.mkdir(parents=True, exist_ok=True)
    (state.bin / "kubectl").symlink_to(binaries.kubectl)
    _say(f"netiso: {binaries.describe()}")
    with state.runner_log.open("ab") as log:
        runner = subprocess.Popen(
            [sys.executable, "-m", RUNNER_MODULE, "--state-dir", str(state.root)]
            + (["--dataplane"] if dataplane else []),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            # Its own session: it survives this command and the terminal it ran in.
            start_new_session=True,
            env=_runner_env(),
        )
    state.runner_pid.write_text(f"{runner.pid}\n")
    deadline = time.monotonic() + _READY_TIMEOUT_SECONDS
    while (ready := state.read_ready()) is None:
        if runner.poll() is not None or time.monotonic() > deadline:
            _say(f"netiso: the control plane did not start; {state.runner_log}:")
            _say(_tail(state.runner_log))
            _cleanup(state, quiet=True)
            return 1
        time.sleep(0.3)
    _say(f"netiso: ready in {ready['startup_seconds']:.1f} s at {ready['server']}")
    if "dataplane" in ready:
        node = ready["dataplane"]
        _say(f"netiso: node {node['node']} Ready, kube-router enforcing; {node['timings']}")
    _say(f"netiso: logs in {state.plane / 'logs'}; stop with `netiso cluster down`")
    _print_exports(state, ready, path=False)
    return 0


def cluster_down(args: argparse.Namespace) -> int:
    """Stop the runner and its components, then delete the state directory. Idempotent."""
    state = _state(args)
    if not state.root.exists():
        _say("netiso: no local cluster to stop")
        return 0
    stopped = _cleanup(state, quiet=False)
    return 0 if stopped else 1


def cluster_env(args: argparse.Namespace) -> int:
    """Print the exports that point kubectl at the running cluster; 1 if none runs."""
    state = _state(args)
    ready = state.read_ready()
    if state.runner_alive() is None or ready is None:
        _say("netiso: no local cluster is running; start one with `netiso cluster up`")
        return 1
    _print_exports(state, ready, path=True)
    return 0


def cluster_status(args: argparse.Namespace) -> int:
    """Describe the running cluster; exit 0 only when its API server reports ready."""
    state = _state(args)
    ready = state.read_ready()
    runner = state.runner_alive()
    if runner is None or ready is None:
        print(f"not running (state: {state.root})")
        return 1
    healthy = _readyz(ready)
    print(f"{'ready' if healthy else 'NOT READY'}: {ready['server']}")
    print(f"  versions: {ready['versions']}")
    print(f"  runner pid {runner}; " + ", ".join(f"{k} pid {v}" for k, v in ready["pids"].items()))
    if "dataplane" in ready:
        node = ready["dataplane"]
        pids = ", ".join(f"{k} pid {v}" for k, v in node["pids"].items())
        print(f"  node {node['node']} (test-only enforcer kube-router): {pids}")
    print(f"  kubeconfig: {ready['admin_kubeconfig']}")
    print(f"  logs: {', '.join(ready['log_files'].values())}")
    return 0 if healthy else 1


def run_detached(state_dir: Path, *, dataplane: bool = False) -> int:
    """The runner's body: start a ControlPlane in state_dir/plane, publish it, wait for SIGTERM.

    With `dataplane`, a node (netiso_devkit.dataplane) joins it. Writes ready.json only once
    every component is ready, and removes it before stopping, so readers never see a
    half-started or half-stopped cluster as ready.
    """
    from netiso_devkit.dataplane.nodes import Dataplane, DataplaneError

    state = ClusterState(state_dir)

    def stop_on_signal(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop_on_signal)
    signal.signal(signal.SIGHUP, stop_on_signal)
    controllers = CONTROLLERS + WORKLOAD_CONTROLLERS if dataplane else CONTROLLERS
    plane = ControlPlane(state_dir=state.plane, progress=_say, controllers=controllers)
    node = Dataplane(plane, progress=_say) if dataplane else None
    try:
        plane.start()
        ready: dict[str, Any] = {
            "server": plane.server,
            "admin_kubeconfig": str(plane.admin_kubeconfig),
            "ca_certificate": str(plane.ca_certificate),
            "admin_certificate": str(plane.admin_client.certificate),
            "admin_key": str(plane.admin_client.key),
            "pids": dict(plane.pids),
            "log_files": {name: str(path) for name, path in plane.log_files.items()},
            "versions": plane.binaries.describe(),
            "binaries": {k: str(v) for k, v in asdict(plane.binaries).items()},
            "startup_seconds": plane.startup_seconds,
        }
        if node is not None:
            node.start()
            ready["dataplane"] = {
                "node": node.node_name,
                "pids": dict(node.pids),
                "log_files": {name: str(path) for name, path in node.log_files.items()},
                "timings": asdict(node.timings) if node.timings else {},
            }
        scratch = state.ready.with_suffix(".tmp")
        scratch.write_text(json.dumps(ready, indent=2) + "\n")
        scratch.replace(state.ready)
        _say(f"netiso: control plane ready at {plane.server}")
        while plane.running and (node is None or len(node.pids) == len(node.log_files)):
            time.sleep(1)
        _say("netiso: a component exited; stopping the others")
        for name in plane.log_files:
            _say(f"--- {name} ---\n{plane.log_tail(name)}")
        if node is not None:
            for name in node.log_files:
                _say(f"--- {name} ---\n{node.log_tail(name)}")
        return 1
    except (BinariesError, CertificateError, ControlPlaneError, DataplaneError) as error:
        _say(f"netiso: {error}")
        return 1
    finally:
        state.ready.unlink(missing_ok=True)
        if node is not None:
            node.stop()
        plane.stop()


def run_foreground() -> int:
    """A throwaway control plane in a temporary directory, stopped and removed on Ctrl-C."""
    plane = ControlPlane(progress=_say)
    try:
        plane.start()
        _say(f"netiso: {plane.binaries.describe()}")
        _say(f"netiso: ready in {plane.startup_seconds:.1f} s; Ctrl-C stops and deletes it")
        print(f"export KUBECONFIG={shlex.quote(str(plane.admin_kubeconfig))}", flush=True)
        while plane.running:
            time.sleep(1)
        _say("netiso: a component exited; stopping the others")
        return 1
    except (BinariesError, CertificateError, ControlPlaneError) as error:
        _say(f"netiso: {error}")
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        plane.stop()


# --- helpers ---------------------------------------------------------------------------------


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _print_exports(state: ClusterState, ready: dict[str, Any], *, path: bool) -> None:
    if path:
        print(f"export PATH={shlex.quote(str(state.bin))}:$PATH")
    else:
        print(f'# kubectl: {state.bin / "kubectl"} (`eval "$(netiso cluster env)"` adds it)')
    print(f"export KUBECONFIG={shlex.quote(ready['admin_kubeconfig'])}", flush=True)


def _runner_env() -> dict[str, str]:
    # The runner must import this very netiso, also when it runs from a source checkout.
    source_root = str(Path(__file__).resolve().parents[2])
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (source_root, env.get("PYTHONPATH")) if p)
    return env


def _readyz(ready: dict[str, Any]) -> bool:
    try:
        context = ssl.create_default_context(cafile=ready["ca_certificate"])
        context.load_cert_chain(ready["admin_certificate"], ready["admin_key"])
        with urllib.request.urlopen(f"{ready['server']}/readyz", timeout=3, context=context) as r:
            return int(r.status) == 200
    except (OSError, KeyError, ssl.SSLError, urllib.error.URLError):
        return False


def _cleanup(state: ClusterState, *, quiet: bool) -> bool:
    """Stop whatever runs from `state` and delete it; False if a process would not die."""
    ready = state.read_ready() or {}
    runner = state.runner_alive()
    if runner is not None:
        if not quiet:
            _say(f"netiso: stopping the control plane (runner pid {runner})")
        _signal_group(runner, signal.SIGTERM)
        if not _wait_gone(runner, timeout=_STOP_TIMEOUT_SECONDS):
            _signal_group(runner, signal.SIGKILL)
            _wait_gone(runner, timeout=5)
    # Components die with their runner (PR_SET_PDEATHSIG); kill any that outlived it anyway.
    binaries = ready.get("binaries", {})
    for name, pid in ready.get("pids", {}).items():
        binary = binaries.get(name.replace("-", "_"), name)
        if _cmdline_contains(pid, binary):
            _signal_group(pid, signal.SIGKILL)
            _wait_gone(pid, timeout=5)
    if "dataplane" in ready:
        # A runner killed outright leaves the node's processes, mounts, links and rules.
        from netiso_devkit.dataplane.nodes import sweep_abandoned

        for line in sweep_abandoned():
            if not quiet:
                _say(f"netiso: removed {line}")
    alive = [pid for pid in (runner, *ready.get("pids", {}).values()) if pid and _is_alive(pid)]
    if alive:
        _say(f"netiso: processes {alive} would not stop; state kept in {state.root}")
        return False
    if state.root.exists():
        shutil.rmtree(state.root)
        if not quiet:
            _say(f"netiso: stopped; removed {state.root}")
    return True


def _signal_group(pid: int, signum: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signum)


def _wait_gone(pid: int, *, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while _is_alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def _is_alive(pid: int) -> bool:
    """True for a running process; a zombie (exited, not yet reaped) counts as gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def _cmdline_contains(pid: int, needle: str) -> bool:
    # Guards against pid reuse: only signal a process whose command line is the one we started.
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return False
    return needle in cmdline and _is_alive(pid)


def _tail(path: Path, *, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
