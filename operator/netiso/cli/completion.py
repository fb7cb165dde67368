"""Shell completion for `netiso`, generated from its argparse parser: bash, and zsh through
bashcompinit.

Top layer, pure: a parser in, a script out. Subcommands, their options, option values with
fixed choices (`-o json`) and file or directory arguments complete; nothing runs a cluster call.
"""

from __future__ import annotations

import argparse
import shlex
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

SHELLS: Final = ("bash", "zsh")
_FILE_METAVARS: Final = frozenset({"FILE", "KUBECONFIG"})
_DIR_METAVARS: Final = frozenset({"DIR"})


@dataclass
class _Command:
    """What completes after one (sub)command word."""

    options: list[str] = field(default_factory=list)
    names: list[str] = field(default_factory=list)  # subcommands, positional choices
    choices: dict[str, list[str]] = field(default_factory=dict)  # option -> its values
    files: list[str] = field(default_factory=list)  # options taking a file
    directories: list[str] = field(default_factory=list)  # options taking a directory
    valued: list[str] = field(default_factory=list)  # other options taking a value
    positional: str = ""  # "file", "choices" or ""


def script(parser: argparse.ArgumentParser, *, shell: str, programs: tuple[str, ...]) -> str:
    """The completion script for `shell`, completing each of `programs` (netiso, kubectl-netiso).

    Install: `source <(netiso completion bash)`, or for zsh `source <(netiso completion zsh)`.
    """
    if shell not in SHELLS:
        raise ValueError(f"shell must be one of {', '.join(SHELLS)}, got {shell!r}")
    commands = dict(_walk(parser, path=""))
    lines = [
        "# netiso shell completion, generated from the command's parser (netiso completion).",
        "_netiso() {",
        '    local cur="${COMP_WORDS[COMP_CWORD]}" prev="${COMP_WORDS[COMP_CWORD-1]}"',
        '    local path="" i word',
        "    # The subcommand path: every word so far that is a known subcommand of the last one.",
        "    for ((i = 1; i < COMP_CWORD; i++)); do",
        '        word="${COMP_WORDS[i]}"',
        '        case "$path $word" in',
    ]
    for name in commands:
        if name:
            parent, _, last = name.rpartition(" ")
            lines.append(
                f"            {shlex.quote(f'{parent} {last}')}) path={shlex.quote(name)} ;;"
            )
    lines += ["        esac", "    done", '    case "$path" in']
    for name, command in commands.items():
        lines.append(f"        {shlex.quote(name)})")
        lines.append('            case "$prev" in')
        for option, values in command.choices.items():
            words = shlex.quote(" ".join(values))
            lines.append(
                f'                {option}) COMPREPLY=($(compgen -W {words} -- "$cur")); return ;;'
            )
        if command.files:
            options = "|".join(command.files)
            lines.append(
                f'                {options}) COMPREPLY=($(compgen -f -- "$cur")); return ;;'
            )
        if command.directories:
            options = "|".join(command.directories)
            lines.append(
                f'                {options}) COMPREPLY=($(compgen -d -- "$cur")); return ;;'
            )
        if command.valued:
            lines.append(f"                {'|'.join(command.valued)}) return ;;")
        lines.append("            esac")
        # Options only once a '-' is typed, as kubectl completes; else names or files.
        options = shlex.quote(" ".join(command.options))
        lines.append('            if [[ "$cur" == -* ]]; then')
        lines.append(f'                COMPREPLY=($(compgen -W {options} -- "$cur"))')
        if command.positional == "file":
            lines.append("            else")
            lines.append('                COMPREPLY=($(compgen -f -- "$cur"))')
        elif command.names:
            names = shlex.quote(" ".join(command.names))
            lines.append("            else")
            lines.append(f'                COMPREPLY=($(compgen -W {names} -- "$cur"))')
        lines.append("            fi ;;")
    lines += ["    esac", "}"]
    lines += [f"complete -o filenames -F _netiso {program}" for program in programs]
    body = "\n".join(lines) + "\n"
    if shell == "zsh":
        return (
            "#compdef "
            + " ".join(programs)
            + "\nautoload -U +X bashcompinit && bashcompinit\n"
            + body
        )
    return body


def _walk(parser: argparse.ArgumentParser, *, path: str) -> Iterator[tuple[str, _Command]]:
    """(subcommand path, what completes there) for the parser and every subparser below it."""
    command = _Command()
    below: list[tuple[str, argparse.ArgumentParser]] = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, subparser in action.choices.items():
                command.names.append(name)
                below.append((f"{path} {name}".strip(), subparser))
            continue
        if not action.option_strings:
            if action.choices:
                command.names.extend(str(choice) for choice in action.choices)
            elif action.metavar in _FILE_METAVARS or action.type is Path:
                command.positional = "file"
            continue
        command.options.extend(action.option_strings)
        if action.nargs == 0:
            continue
        options = "|".join(action.option_strings)
        if action.choices:
            command.choices[options] = [str(choice) for choice in action.choices]
        elif action.metavar in _DIR_METAVARS:
            command.directories.append(options)
        elif action.metavar in _FILE_METAVARS:
            command.files.append(options)
        else:
            command.valued.append(options)
    yield path, command
    for name, subparser in below:
        yield from _walk(subparser, path=name)
