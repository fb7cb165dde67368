"""Commands other distributions add to `netiso`: the development kit's `cluster` and `demo`.

CLI layer. A distribution registers `name = module:function` under the `netiso.cli` entry point
group; the function adds its subcommands to the parser. The wheel never imports the kit, so
without it `netiso demo` and `netiso cluster` say how to get it instead of failing to import.
"""

from __future__ import annotations

import argparse
import importlib.metadata
from collections.abc import Callable
from typing import Final, TypeAlias

from netiso.cli.exits import ConfigurationError

GROUP: Final = "netiso.cli"
# The kit's commands, named here so that `netiso --help` lists them and a call without the
# kit gets a sentence instead of "invalid choice".
KIT_COMMANDS: Final = {
    "cluster": "run a local control plane (development kit)",
    "demo": "run netiso end to end on this machine (development kit)",
}
KIT_HINT: Final = (
    "the development kit is not installed; from a source checkout run "
    "`pip install ./devkit` (it builds a local control plane, so it is not in the operator's wheel)"
)

Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def add_plugin_commands(subparsers: Subparsers) -> None:
    """Add every installed plugin's subcommands, and a hint for the kit's when it is absent."""
    for entry in importlib.metadata.entry_points(group=GROUP):
        register: Callable[[Subparsers], None] = entry.load()
        register(subparsers)
    for command, summary in KIT_COMMANDS.items():
        if command not in subparsers.choices:
            # No option prefix: every word after the command is taken, so `netiso demo --once`
            # gets the hint too, not "unrecognized arguments".
            parser = subparsers.add_parser(command, help=summary, add_help=False, prefix_chars="\0")
            parser.add_argument("rest", nargs=argparse.REMAINDER)
            parser.set_defaults(handler=_missing_kit)


def _missing_kit(_args: argparse.Namespace) -> int:
    raise ConfigurationError(KIT_HINT)
