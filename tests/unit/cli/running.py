"""Running `netiso` in-process for the CLI's unit tests: one helper, shared by every test module.

Test support, top layer: calls cli.main(argv) and captures what it printed, failing the test
on any traceback, which no command may ever print.
"""

from __future__ import annotations

import pytest

from netiso.cli.app import main


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """`netiso ARGV...`: its exit status, stdout and stderr."""
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err
