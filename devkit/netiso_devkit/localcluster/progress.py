"""A heartbeat for long work: elapsed time and what is being done, at least every 15 s.

Part of netiso_devkit.localcluster (the cold control-plane build takes minutes and used to print
nothing). On a terminal the heartbeat redraws one status line in place, every second; anywhere
else (CI logs, pipes, a caller's own progress callback) it emits a plain line every `interval`.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import Final, TextIO

Progress = Callable[[str], None]

# The longest silence a heartbeat allows; the default interval stays under it.
MAX_SILENCE_SECONDS: Final = 15.0
DEFAULT_INTERVAL_SECONDS: Final = 10.0
# On a terminal the line is redrawn this often (or every `interval`, if shorter).
_TERMINAL_REDRAW_SECONDS: Final = 1.0
_SPINNER: Final = "|/-\\"


def elapsed(seconds: float) -> str:
    """`42s`, `3m05s`: short and fixed in shape, for a status line."""
    whole = int(seconds)
    if whole < 60:
        return f"{whole}s"
    return f"{whole // 60}m{whole % 60:02d}s"


class Heartbeat:
    """Reports `what`, the elapsed time and the latest detail until the block ends.

    `note()` may be called from any thread with what is happening right now (the last package
    compiled, say); the count of notes is shown too. With `terminal` set (a TTY), the status
    is redrawn in place and finished with a newline; otherwise `say` gets one line per
    `interval` seconds. The closing line reports the total time either way.
    """

    def __init__(
        self,
        what: str,
        *,
        say: Progress,
        interval: float = DEFAULT_INTERVAL_SECONDS,
        terminal: TextIO | None = None,
    ) -> None:
        if not 0 < interval <= MAX_SILENCE_SECONDS:
            raise ValueError(f"interval: must be in (0, {MAX_SILENCE_SECONDS}] s, got {interval}")
        self._what = what
        self._say = say
        self._interval = interval
        self._terminal = terminal
        self._lock = threading.Lock()
        self._detail = ""
        self._notes = 0
        self._started = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="netiso-heartbeat", daemon=True)

    def note(self, detail: str) -> None:
        """Record the latest thing being done; shown on the next beat."""
        with self._lock:
            self._detail = detail.strip()
            self._notes += 1

    def status(self) -> str:
        """The current status line (no newline)."""
        with self._lock:
            detail, notes = self._detail, self._notes
        line = f"netiso: {self._what}: {elapsed(time.monotonic() - self._started)} elapsed"
        if notes:
            line += f", {notes} step{'s' if notes != 1 else ''}"
        if detail:
            line += f" (now: {detail})"
        return line

    def __enter__(self) -> Heartbeat:
        self._started = time.monotonic()
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join()
        outcome = "failed" if kind is not None else "done"
        total = elapsed(time.monotonic() - self._started)
        if self._terminal is not None:
            self._terminal.write("\r\x1b[K")
            self._terminal.flush()
        self._say(f"netiso: {self._what}: {outcome} after {total}")

    def _run(self) -> None:
        if self._terminal is not None:
            self._redraw()
            return
        while not self._stop.wait(self._interval):
            self._say(self.status())

    def _redraw(self) -> None:
        assert self._terminal is not None
        turn = 0
        while not self._stop.wait(min(_TERMINAL_REDRAW_SECONDS, self._interval)):
            turn += 1
            spinner = _SPINNER[turn % len(_SPINNER)]
            self._terminal.write(f"\r\x1b[K{spinner} {self.status()}")
            self._terminal.flush()


def stderr_terminal() -> TextIO | None:
    """stderr when it is a terminal (where a redrawn line reads well), else None."""
    return sys.stderr if sys.stderr.isatty() else None
