"""Resource use of one process from /proc: resident memory and CPU seconds.

Linux only. RSS is VmRSS (now) and VmHWM (peak since start) from /proc/<pid>/status; CPU is
utime + stime from /proc/<pid>/stat, in seconds, over the process's whole life.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

MIB = 1024 * 1024
# The control plane's programs, as a local run starts them (netiso_devkit.localcluster).
CONTROL_PLANE = ("kube-apiserver", "etcd", "kube-controller-manager")


@dataclass(frozen=True)
class ProcessSample:
    """One reading of a process; `at` is time.monotonic() when it was taken."""

    pid: int
    rss_bytes: int
    peak_rss_bytes: int
    cpu_seconds: float
    at: float

    def as_dict(self) -> dict[str, float]:
        return {
            "rss_mib": round(self.rss_bytes / MIB, 1),
            "peak_rss_mib": round(self.peak_rss_bytes / MIB, 1),
            "cpu_seconds": round(self.cpu_seconds, 2),
        }


def sample(pid: int) -> ProcessSample:
    """Read the process now; raises OSError when it is gone."""
    with open(f"/proc/{pid}/status") as handle:
        fields = dict(line.split(":", 1) for line in handle if ":" in line)
    with open(f"/proc/{pid}/stat") as handle:
        stat = handle.read()
    # The command name (field 2) may contain spaces and parentheses: split after its last ')'.
    # What follows starts at field 3 (state), so utime (14) and stime (15) are items 11 and 12.
    rest = stat[stat.rindex(")") + 2 :].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return ProcessSample(
        pid=pid,
        rss_bytes=_kib(fields.get("VmRSS", "0 kB")) * 1024,
        peak_rss_bytes=_kib(fields.get("VmHWM", "0 kB")) * 1024,
        cpu_seconds=(int(rest[11]) + int(rest[12])) / ticks,
        at=time.monotonic(),
    )


def cpu_between(before: ProcessSample, after: ProcessSample) -> dict[str, float]:
    """CPU seconds used between two samples of one process, and as a share of one core."""
    used = after.cpu_seconds - before.cpu_seconds
    wall = max(after.at - before.at, 1e-9)
    return {"cpu_seconds": round(used, 2), "cpu_cores": round(used / wall, 3)}


@dataclass(frozen=True)
class MachineSample:
    """CPU seconds the whole machine was busy, and those of this process and its descendants
    (the benchmark, the control plane it started, the operator), at one instant."""

    busy_seconds: float
    own_tree_seconds: float
    bench_seconds: float
    at: float
    # CPU seconds of the control plane this run started, by program (kube-apiserver, etcd,
    # kube-controller-manager): where the machine's time goes when the operator is not it.
    control_plane_seconds: tuple[tuple[str, float], ...] = ()


def sample_machine() -> MachineSample:
    ticks = os.sysconf("SC_CLK_TCK")
    with open("/proc/stat") as handle:
        fields = [int(v) for v in handle.readline().split()[1:]]
    # user nice system idle iowait irq softirq steal ...: busy is everything but idle+iowait.
    busy = sum(fields) - fields[3] - fields[4]
    parents: dict[int, int] = {}
    cpu: dict[int, int] = {}
    names: dict[int, str] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                head, _, tail = handle.read().rpartition(")")
        except OSError:
            continue  # exited while we looked
        rest = tail.split()
        parents[int(entry)] = int(rest[1])
        cpu[int(entry)] = int(rest[11]) + int(rest[12])
        names[int(entry)] = head.partition("(")[2]
    mine = {os.getpid()}
    # Parents are listed before children only by chance; repeat until nothing is added.
    grew = True
    while grew:
        grew = False
        for pid, parent in parents.items():
            if parent in mine and pid not in mine:
                mine.add(pid)
                grew = True
    plane: dict[str, int] = dict.fromkeys(CONTROL_PLANE, 0)
    for pid in mine:
        # The kernel keeps 15 characters of a command name: "kube-controller" and so on.
        program = next((p for p in CONTROL_PLANE if p[:15] == names.get(pid)), None)
        if program is not None:
            plane[program] += cpu.get(pid, 0)
    return MachineSample(
        busy_seconds=busy / ticks,
        own_tree_seconds=sum(cpu.get(pid, 0) for pid in mine) / ticks,
        bench_seconds=cpu.get(os.getpid(), 0) / ticks,
        at=time.monotonic(),
        control_plane_seconds=tuple((p, seconds / ticks) for p, seconds in plane.items()),
    )


def machine_between(before: MachineSample, after: MachineSample) -> dict[str, float]:
    """Cores the machine was busy; busy with processes this run did not start (other users of
    the machine: they make every figure of the window slower); used by the benchmark
    process itself (its client, watch and bookkeeping compete with what it measures); and by
    each program of a local control plane (`<program>_cores`; absent on other clusters).
    Approximate: CPU of our processes that exited inside the window counts as foreign."""
    wall = max(after.at - before.at, 1e-9)
    busy = (after.busy_seconds - before.busy_seconds) / wall
    own = (after.own_tree_seconds - before.own_tree_seconds) / wall
    bench = (after.bench_seconds - before.bench_seconds) / wall
    out = {
        "busy_cores": round(busy, 2),
        "foreign_cores": round(max(0.0, busy - own), 2),
        "bench_cores": round(bench, 2),
    }
    earlier = dict(before.control_plane_seconds)
    for program, seconds in after.control_plane_seconds:
        used = seconds - earlier.get(program, 0.0)
        if seconds:
            out[f"{program.replace('-', '_')}_cores"] = round(max(0.0, used) / wall, 2)
    return out


def _kib(value: str) -> int:
    return int(value.split()[0])
