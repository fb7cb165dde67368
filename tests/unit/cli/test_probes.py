"""`netiso probe`: unusable input is one error line naming the option, exit status 2, and no
cluster is asked; the verdict's exit statuses are the documented ones."""

from __future__ import annotations

from pathlib import Path

import pytest

from netiso.cli import probes
from netiso.cli.app import main
from netiso.cli.exits import Exit
from netiso.model.enforcement import EnforcementState


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


def test_exit_statuses_follow_the_verdict() -> None:
    statuses = {state: probes.EXITS.get(state, Exit.BAD_INPUT) for state in EnforcementState}
    assert statuses == {
        EnforcementState.ENFORCED: Exit.OK,
        EnforcementState.NOT_ENFORCED: Exit.FINDINGS,
        EnforcementState.INCONCLUSIVE: Exit.BAD_INPUT,
        EnforcementState.UNAVAILABLE: Exit.BAD_INPUT,
    }
