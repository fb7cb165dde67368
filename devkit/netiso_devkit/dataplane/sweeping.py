"""Tear down everything a dataplane created on the host, also after its owner was killed.

Processes in the kit's cgroups and its containerd shims, mounts below its state directory
(overlay snapshots, network namespaces, shm), the pod bridge and veths, kube-router's chains
and ipsets, the cgroups below CGROUP_ROOT, CNI cache files and pod log links. Idempotent;
every step is attempted even when another fails. Part of netiso_devkit.dataplane.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Final

from netiso_devkit.dataplane import apiforwarding, kuberouter
from netiso_devkit.dataplane.nodeconfigs import BRIDGE, CGROUP_ROOT

CGROUP_MOUNT: Final = Path("/sys/fs/cgroup")
CNI_CACHE: Final = Path("/var/lib/cni/results")
CNI_NETWORK: Final = "netiso-dp-pods"
POD_LOG_LINKS: Final = Path("/var/log/containers")
# Fixed places containerd's shims and runc, the CNI plugins and kubelet write to whatever their
# configuration says: removed by the sweep when the dataplane created them (host_paths_absent).
HOST_PATHS: Final = (
    Path("/run/containerd"),
    Path("/var/lib/cni"),
    Path("/var/lib/kubelet"),
    Path("/var/log/containers"),
    Path("/var/log/pods"),
)
# Chains kubelet makes for itself (its "iptables util chains"), with a rule in INPUT/OUTPUT.
KUBELET_CHAINS: Final = ("KUBE-FIREWALL", "KUBE-KUBELET-CANARY", "KUBE-IPTABLES-HINT")


def cgroup_dirs() -> list[Path]:
    """CGROUP_ROOT in every mounted v1 hierarchy (and the v2 one, where kubelet may add it)."""
    found = []
    for hierarchy in sorted(CGROUP_MOUNT.iterdir()) if CGROUP_MOUNT.exists() else []:
        if hierarchy.is_dir() and not hierarchy.is_symlink():
            found.append(hierarchy / CGROUP_ROOT.lstrip("/"))
    return found


def make_cgroups() -> None:
    """Create CGROUP_ROOT in each hierarchy; a new cpuset inherits its parent's cpus and mems."""
    for directory in cgroup_dirs():
        directory.mkdir(exist_ok=True)
        for name in ("cpuset.cpus", "cpuset.mems"):
            mine = directory / name
            if mine.exists() and not mine.read_text().strip():
                mine.write_text((directory.parent / name).read_text())


def host_paths_absent() -> list[str]:
    """The HOST_PATHS that do not exist yet: the ones a later sweep may remove."""
    return [str(path) for path in HOST_PATHS if not path.exists()]


def sweep(
    state_root: Path | None,
    *,
    containerd_socket: Path | None,
    created: Sequence[str] = (),
) -> list[str]:
    """Remove the dataplane's host state; returns a line per thing removed.

    `created` names HOST_PATHS the dataplane created (host_paths_absent() before it started).
    """
    removed: list[str] = []
    removed += _kill_cgroup_processes()
    if containerd_socket is not None:
        removed += _kill_shims(containerd_socket)
    if state_root is not None:
        removed += _unmount_below(state_root)
    removed += _delete_links()
    removed += kuberouter.sweep_firewall()
    removed += kuberouter.sweep_chains((*KUBELET_CHAINS, apiforwarding.CHAIN))
    removed += _remove_cgroups()
    removed += _remove_files(state_root)
    for path in created:
        if Path(path) in HOST_PATHS and Path(path).exists():
            _unmount_below(Path(path))
            shutil.rmtree(path, ignore_errors=True)
            removed.append(f"directory {path}")
    return removed


def processes_with(needle: str) -> list[int]:
    """Pids whose command line contains `needle`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if needle in cmdline:
            found.append(int(entry.name))
    return found


def _kill_cgroup_processes() -> list[str]:
    killed: list[str] = []
    for _ in range(10):
        pids: set[int] = set()
        for directory in cgroup_dirs():
            # os.walk, not rglob: a pod's cgroup removed while the walk is under way is skipped
            # (rglob raises FileNotFoundError and the teardown would stop half done).
            for root, _, files in os.walk(directory):
                if "cgroup.procs" not in files:
                    continue
                with contextlib.suppress(OSError, ValueError):
                    pids.update(int(p) for p in Path(root, "cgroup.procs").read_text().split())
        if not pids:
            break
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
                killed.append(f"process {pid} (pod cgroup)")
        time.sleep(0.2)
    return killed


def _kill_shims(socket: Path) -> list[str]:
    pids = [pid for pid in processes_with(str(socket)) if pid != os.getpid()]
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    return [f"process {pid} (containerd shim)" for pid in pids]


def _unmount_below(root: Path) -> list[str]:
    prefix = str(root.resolve()) if root.exists() else str(root)
    removed = []
    for _ in range(3):
        mounts = []
        for line in Path("/proc/self/mountinfo").read_text().splitlines():
            point = line.split()[4].replace("\\040", " ")
            if point == prefix or point.startswith(prefix + "/"):
                mounts.append(point)
        if not mounts:
            break
        # Deepest first: a parent cannot go while a child is mounted on it.
        for point in sorted(set(mounts), key=len, reverse=True):
            result = subprocess.run(["umount", "-l", point], capture_output=True, check=False)
            if result.returncode == 0:
                removed.append(f"mount {point}")
    return removed


def _delete_links() -> list[str]:
    removed = []
    listing = subprocess.run(
        ["ip", "-o", "link", "show"], capture_output=True, text=True, check=False
    ).stdout
    for line in listing.splitlines():
        name = line.split(":", 2)[1].strip().split("@")[0]
        if name == BRIDGE or f" master {BRIDGE} " in line:
            subprocess.run(["ip", "link", "del", name], capture_output=True, check=False)
            removed.append(f"link {name}")
    return removed


def _remove_cgroups() -> list[str]:
    removed = []
    for directory in cgroup_dirs():
        if not directory.exists():
            continue
        # Children before parents; a cgroup with live processes refuses, which is retried.
        for child in sorted(
            (p for p in directory.rglob("*") if p.is_dir()),
            key=lambda p: len(p.parts),
            reverse=True,
        ):
            with contextlib.suppress(OSError):
                child.rmdir()
        for _ in range(20):
            try:
                directory.rmdir()
                removed.append(f"cgroup {directory}")
                break
            except FileNotFoundError:
                break
            except OSError:
                time.sleep(0.1)
    return removed


def _remove_files(state_root: Path | None) -> list[str]:
    removed = []
    if CNI_CACHE.exists():
        for cached in CNI_CACHE.glob(f"{CNI_NETWORK}-*"):
            cached.unlink(missing_ok=True)
            removed.append(f"file {cached}")
    if state_root is not None and POD_LOG_LINKS.exists():
        for link in POD_LOG_LINKS.iterdir():
            with contextlib.suppress(OSError):
                if link.is_symlink() and str(link.readlink()).startswith(str(state_root)):
                    link.unlink()
                    removed.append(f"link {link}")
    return removed
