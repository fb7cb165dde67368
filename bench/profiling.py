"""Sampling the operator with py-spy while a scenario runs, and summarising where time went.

`py-spy record --format raw` writes collapsed stacks (`frame;frame;... count`); `summarise`
turns them into the top functions by own time and by inclusive time, and the share of samples
per package (kopf, netiso, aiohttp, asyncio, ...), which is what points at a fix.
"""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

_FRAME = re.compile(r"^(?P<function>.*) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")


def py_spy() -> str | None:
    """The py-spy executable next to this interpreter or on PATH, if any."""
    beside = Path(sys.executable).with_name("py-spy")
    if beside.exists():
        return str(beside)
    return shutil.which("py-spy")


class Recording:
    """One `py-spy record` attached to a process until stop()."""

    def __init__(self, *, pid: int, out: Path, rate: int = 100) -> None:
        executable = py_spy()
        if executable is None:
            raise RuntimeError("py-spy is not installed: pip install py-spy")
        self.out = out
        self.log = out.with_suffix(".log")
        with self.log.open("wb") as log:
            # --nonblocking: never pause the operator to sample it, so profiling does not
            # change what is measured (at the price of an occasional torn stack). --gil: only
            # the thread running Python, i.e. where the operator's CPU goes; a thread waiting
            # on a lock or a queue would otherwise show up as busy.
            self.process = subprocess.Popen(
                [executable, "record", "-p", str(pid), "-o", str(out), "-f", "raw",
                 "-r", str(rate), "--nonblocking", "--gil", "--full-filenames"],
                stdout=log,
                stderr=subprocess.STDOUT,
            )  # fmt: skip

    def stop(self) -> dict[str, Any]:
        """Stop sampling (py-spy writes its file on SIGINT) and summarise it."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if not self.out.exists():
            return {"error": f"py-spy wrote nothing; see {self.log}"}
        return {"file": str(self.out), **summarise(self.out.read_text())}


def _package(path: str) -> str:
    """A short owner for a source file: the site-packages package, netiso module or stdlib."""
    if "site-packages/" in path:
        return path.split("site-packages/", 1)[1].split("/", 1)[0]
    if "/netiso/" in path:
        return "netiso." + path.split("/netiso/", 1)[1].split("/", 1)[0].removesuffix(".py")
    match = re.search(r"/python3\.\d+/(?P<module>[^/]+)", path)
    if match:
        return "stdlib." + match.group("module").removesuffix(".py")
    return path or "?"


def _name(frame: str) -> tuple[str, str]:
    match = _FRAME.match(frame)
    if match is None:
        return frame, "?"
    path = match.group("file")
    short = "/".join(path.split("/")[-2:])
    return f"{match.group('function')} ({short})", _package(path)


# Frames that start a unit of work: an event-loop callback (a task step) or a thread-pool job.
# Inclusive time is counted below the last of them, so the list names tasks and handlers
# rather than the frames every sample shares (kopf's CLI, asyncio.run, the loop itself).
_TASK_BOUNDARIES = ("Handle._run (asyncio/events.py)", "_worker (futures/thread.py)")


def _task_start(frames: list[tuple[str, str]]) -> int:
    for index in range(len(frames) - 1, -1, -1):
        if frames[index][0] in _TASK_BOUNDARIES:
            return index + 1
    return 0


def summarise(raw: str, *, top: int = 15) -> dict[str, Any]:
    """Top functions by self and inclusive share of samples, and self share per package.

    Inclusive shares count only frames below the event-loop callback or thread-pool job that
    the sample belongs to (see _TASK_BOUNDARIES).
    """
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    packages: Counter[str] = Counter()
    total = 0
    for line in raw.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        frames = [_name(frame) for frame in stack.split(";") if frame]
        if not frames:
            continue
        leaf, package = frames[-1]
        own[leaf] += count
        packages[package] += count
        for name in {name for name, _ in frames[_task_start(frames) :]}:
            inclusive[name] += count

    def share(counter: Counter[str]) -> list[dict[str, Any]]:
        return [
            {"function": name, "percent": round(100 * value / total, 1)}
            for name, value in counter.most_common(top)
        ]

    if not total:
        return {"samples": 0}
    return {
        "samples": total,
        "self": share(own),
        "inclusive": share(inclusive),
        "packages": [
            {"package": name, "percent": round(100 * value / total, 1)}
            for name, value in packages.most_common(top)
        ],
    }
