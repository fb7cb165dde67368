"""`netiso probe`: unusable input is one error line naming the option, exit status 2, and no
cluster is asked; the verdict's exit statuses are the documented ones."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from netiso.cli import probes
from netiso.cli.app import main
from netiso.cli.exits import Exit
from netiso.model.enforcement import EnforcementState, ProbeReason, ProbeVerdict
from netiso.runtime.client import Credentials


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["--port", "80"], "--port: must be 1024-65535, got 80"),
        (["--namespace", "Not_A_Name"], "--namespace:"),
        (["--source-namespace", "x" * 64], "--source-namespace:"),
        (["--timeout", "0"], "--timeout: must be in (0, 600] seconds, got 0.0"),
    ],
)
def test_bad_options_name_the_option_and_exit_2(
    argv: list[str], words: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["probe", "base", *argv]) == Exit.BAD_INPUT
    error = capsys.readouterr().err
    assert error.startswith("netiso probe: error: ")
    assert words in error
    assert "Traceback" not in error


def test_a_missing_kubeconfig_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["probe", "base", "--kubeconfig", str(tmp_path / "none")]) == Exit.BAD_INPUT
    assert capsys.readouterr().err.startswith("netiso probe: error: ")


@pytest.mark.parametrize(
    ("state", "code"),
    [
        (EnforcementState.ENFORCED, 0),
        (EnforcementState.NOT_ENFORCED, 1),
        (EnforcementState.INCONCLUSIVE, 2),
        (EnforcementState.UNAVAILABLE, 2),
    ],
)
def test_the_exit_status_follows_the_verdict(
    state: EnforcementState,
    code: int,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # The command as a user runs it, the cluster round replaced by its verdict.
    async def plan(api: Any, args: Any) -> None:
        return None

    async def round_(api: Any, plan: Any) -> ProbeVerdict:
        return ProbeVerdict(state=state, reason=ProbeReason.ENFORCED, message="m", namespace="a")

    monkeypatch.setattr(
        probes, "load_credentials", lambda *_, **__: Credentials(server="https://k")
    )
    monkeypatch.setattr(probes, "_plan", plan)
    monkeypatch.setattr(probes, "run_round", round_)
    assert main(["probe", "base"]) == code
    assert f"{state}" in capsys.readouterr().out
