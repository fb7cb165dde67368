"""Long work reports elapsed time and what it is doing: the heartbeat and the build's go steps.

The slow steps here are fakes that wait until the heartbeat has spoken a few times, so the
tests prove the reports happen without timing anything.
"""

from __future__ import annotations

import io
import threading
import time
from pathlib import Path

import pytest

from netiso_devkit.localcluster import assets, gotoolchain
from netiso_devkit.localcluster.progress import (
    DEFAULT_INTERVAL_SECONDS,
    MAX_SILENCE_SECONDS,
    Heartbeat,
    elapsed,
)

# Safety net only: a broken heartbeat fails the test after this long instead of hanging it.
PATIENCE = 30.0


class Recorder:
    """A progress callback that remembers every line and signals after `wanted` beats (those
    that contain `showing`, when given)."""

    def __init__(self, wanted: int, *, showing: str = "") -> None:
        self.lines: list[str] = []
        self.wanted = wanted
        self.showing = showing
        self.enough = threading.Event()

    def __call__(self, line: str) -> None:
        self.lines.append(line)
        beats = [item for item in self.lines if "elapsed" in item and self.showing in item]
        if len(beats) >= self.wanted:
            self.enough.set()


def test_a_slow_step_gets_a_line_per_interval_with_elapsed_time_and_the_latest_detail() -> None:
    say = Recorder(wanted=3)
    beat = Heartbeat("compiling kube-apiserver", say=say, interval=0.01)
    # Noted before the first beat can fire, so every beat has it to show.
    beat.note("k8s.io/apiserver/pkg/server")
    with beat:
        assert say.enough.wait(PATIENCE), say.lines
    beats = [line for line in say.lines if "elapsed" in line]
    assert len(beats) >= 3
    for line in beats:
        assert line.startswith("netiso: compiling kube-apiserver: ")
        assert "(now: k8s.io/apiserver/pkg/server)" in line
        assert "1 step " in line
    assert say.lines[-1].startswith("netiso: compiling kube-apiserver: done after ")


def test_a_failing_step_says_it_failed() -> None:
    say = Recorder(wanted=1)
    with pytest.raises(RuntimeError), Heartbeat("building etcd", say=say, interval=0.01):
        raise RuntimeError("boom")
    assert say.lines[-1].startswith("netiso: building etcd: failed after ")


def test_on_a_terminal_the_status_line_is_redrawn_in_place() -> None:
    terminal = io.StringIO()
    say = Recorder(wanted=0)
    with Heartbeat("downloading k8s.io/kubernetes", say=say, interval=0.01, terminal=terminal):
        deadline = time.monotonic() + PATIENCE
        while terminal.getvalue().count("\r\x1b[K") < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
    drawn = terminal.getvalue()
    assert drawn.count("\r\x1b[K") >= 3, drawn
    assert "netiso: downloading k8s.io/kubernetes: " in drawn
    # The redrawn line is erased at the end; the closing line goes to `say`, as plain text.
    assert drawn.endswith("\r\x1b[K")
    assert "\n" not in drawn
    assert say.lines == [say.lines[-1]]
    assert "done after" in say.lines[-1]


def test_the_default_interval_keeps_silences_under_fifteen_seconds() -> None:
    assert DEFAULT_INTERVAL_SECONDS <= MAX_SILENCE_SECONDS == 15.0
    assert gotoolchain.HEARTBEAT_SECONDS <= MAX_SILENCE_SECONDS


@pytest.mark.parametrize("interval", [0, -1, 15.5, 60])
def test_an_interval_that_allows_long_silences_is_refused(interval: float) -> None:
    with pytest.raises(ValueError, match=r"^interval: must be in \(0, 15.0\] s"):
        Heartbeat("x", say=print, interval=interval)


@pytest.mark.parametrize(
    ("seconds", "text"), [(0, "0s"), (9.9, "9s"), (59, "59s"), (60, "1m00s"), (605, "10m05s")]
)
def test_elapsed_is_short_and_fixed_in_shape(seconds: float, text: str) -> None:
    assert elapsed(seconds) == text


def test_a_go_step_reports_its_latest_output_while_it_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The build's `go` steps beat while go works: a fake go prints one package, then waits
    until the heartbeat has reported it twice, then prints another and exits.

    Beats before go's first line (the heartbeat starts with the process) show no package
    yet; the fake waits for beats that show it, so it never races the heartbeat."""
    flag = tmp_path / "heard"
    fake_go = tmp_path / "go"
    fake_go.write_text(
        "#!/bin/sh\n"
        "echo k8s.io/kubernetes/cmd/kube-apiserver/app\n"
        f'while [ ! -e "{flag}" ]; do sleep 0.01; done\n'
        "echo k8s.io/kubernetes/cmd/kubectl\n"
    )
    fake_go.chmod(0o755)
    monkeypatch.setattr(gotoolchain, "HEARTBEAT_SECONDS", 0.01)
    first = "(now: k8s.io/kubernetes/cmd/kube-apiserver/app)"
    say = Recorder(wanted=2, showing=first)

    def heard(line: str) -> None:
        say(line)
        if say.enough.is_set():
            flag.touch()

    log = tmp_path / "build.log"
    output = gotoolchain.run_go(
        str(fake_go), ["build", "-v"], cwd=tmp_path, log=log, say=heard, what="compiling kubectl"
    )
    assert output.splitlines() == [
        "k8s.io/kubernetes/cmd/kube-apiserver/app",
        "k8s.io/kubernetes/cmd/kubectl",
    ]
    beats = [line for line in say.lines if "elapsed" in line]
    assert len([line for line in beats if first in line]) >= 2
    assert say.lines[-1].startswith("netiso: compiling kubectl: done after ")
    assert "k8s.io/kubernetes/cmd/kubectl" in log.read_text()


def test_a_failing_go_step_names_the_log_and_shows_its_tail(tmp_path: Path) -> None:
    fake_go = tmp_path / "go"
    fake_go.write_text("#!/bin/sh\necho 'cannot find module providing package x'\nexit 1\n")
    fake_go.chmod(0o755)
    log = tmp_path / "build.log"
    with pytest.raises(
        gotoolchain.BinariesError, match=r"`go build` failed \(exit 1\); see .*build\.log"
    ):
        gotoolchain.run_go(
            str(fake_go), ["build"], cwd=tmp_path, log=log, say=print, what="compiling"
        )


@pytest.mark.parametrize(
    ("apiserver", "controller_manager", "problem"),
    [
        ("v1.35.4", "v1.35.4", None),
        ("v1.35.4", "v1.35.0", None),
        ("v1.35.4", "v1.34.9", None),
        ("v1.33.0-rc.1", "v1.33.0", None),
        ("v1.35.4", "v1.35.5", "newer than kube-apiserver v1.35.4"),
        ("v1.33.0", "v1.35.4", "newer than kube-apiserver v1.33.0"),
        ("v1.35.4", "v1.33.9", "more than one minor version older"),
    ],
)
def test_version_skew_policy_for_the_controller_manager(
    apiserver: str, controller_manager: str, problem: str | None
) -> None:
    found = assets.skew_problem(apiserver=apiserver, controller_manager=controller_manager)
    if problem is None:
        assert found is None
    else:
        assert found is not None
        assert problem in found
