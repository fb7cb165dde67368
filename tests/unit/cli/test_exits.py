"""Exit statuses and CLI errors: one table, one error line, whichever command fails."""

from __future__ import annotations

import argparse
import importlib.metadata
import re
from pathlib import Path

import pytest

from netiso.cli import app, plugins
from netiso.cli.exits import (
    CliError,
    ClusterError,
    ConfigurationError,
    Exit,
    InputError,
    UsageError,
)

DOCS = Path(__file__).resolve().parents[3] / "docs" / "cli.md"


def test_the_documented_exit_statuses_are_the_defined_ones() -> None:
    text = DOCS.read_text().split("## Exit status", 1)[1].split("\n## ", 1)[0]
    documented = [int(status) for status in re.findall(r"^\| (\d+) \|", text, re.MULTILINE)]
    assert documented == [int(status) for status in Exit]


@pytest.mark.parametrize(
    "kind", [CliError, UsageError, InputError, ClusterError, ConfigurationError]
)
def test_any_cli_error_a_command_raises_is_one_line_and_exit_two(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], kind: type[CliError]
) -> None:
    def fail(args: argparse.Namespace) -> int:
        raise kind("--thing: not usable")

    def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
        subparsers.add_parser("status").set_defaults(handler=fail)

    monkeypatch.setattr(app, "_add_cluster_facing_commands", register)
    assert app.main(["status"]) == Exit.BAD_INPUT
    assert capsys.readouterr() == ("", "netiso status: error: --thing: not usable\n")


def test_a_kit_command_without_the_kit_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
        monkeypatch.setattr(importlib.metadata, "entry_points", lambda group: [])
        plugins.add_plugin_commands(subparsers)

    monkeypatch.setattr(app, "_add_cluster_facing_commands", register)
    assert app.main(["demo", "--once"]) == Exit.BAD_INPUT
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("netiso demo: error: the development kit is not installed; ")
    assert err.count("\n") == 1
