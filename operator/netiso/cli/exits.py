"""Exit statuses of every `netiso` command, and the one error family that ends a command early.

CLI layer, imported by every command and by the dispatcher (app.main), so it imports nothing:
`render` and `validate` must not pay for more. docs/cli.md holds the same table.
"""

from __future__ import annotations

import sys
from enum import IntEnum


class Exit(IntEnum):
    """What a command's exit status says."""

    OK = 0
    """Done; nothing found: no change, no violation, the connection is allowed."""
    FINDINGS = 1
    """Done, and something was found: an invalid profile, changes or drift, a guardrail
    violation, a denied connection."""
    BAD_INPUT = 2
    """Not done: an option, a file, the kubeconfig or the cluster could not be used."""
    INTERRUPTED = 130
    """Ctrl-C, as shells report SIGINT."""
    CLOSED_PIPE = 141
    """The reader of the output went away (`| head -1`), as shells report SIGPIPE: the output
    was cut short, so the status says neither "nothing found" nor "found"."""


class CliError(Exception):
    """Input or configuration a command cannot use. The dispatcher prints it as one line,
    `netiso COMMAND: error: MESSAGE`, and exits BAD_INPUT; the message names the option, file,
    object or field, and the reason."""


class UsageError(CliError):
    """A command-line option's value is unusable (`--label: expected KEY=VALUE, got "x"`)."""


class InputError(CliError):
    """A file, a document in it, or an object read from the cluster is unusable: which one,
    the field, and why."""


class ClusterError(CliError):
    """The cluster cannot be asked: no kubeconfig, refused credentials, a missing permission,
    an unreachable server; the message says what to check."""


class ConfigurationError(CliError):
    """The installation or environment is unusable: a NETISO_* variable (which one, and why),
    or a command whose package is not installed."""


def fail(command: str, error: CliError) -> Exit:
    """Print `error` as the command's one error line on stderr; the status to exit with."""
    print(f"netiso {command}: error: {error}", file=sys.stderr)
    return Exit.BAD_INPUT
