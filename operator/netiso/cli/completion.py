"""Shell completion for `netiso` and `kubectl netiso`, by argcomplete from the command's own
parser: subcommands, options, fixed choices, files, and names read from the live cluster.

Top layer beside app: the completers read the kubeconfig (contexts) and the cluster the
command line points at (namespaces, IsolationProfiles, pods) through the runtime's client,
bounded by a short timeout; a cluster that cannot be asked completes to nothing, never to an
error. `kubectl_complete()` is the `kubectl_complete-netiso` program kubectl runs for
`kubectl netiso <TAB>` (the kubectl plugin completion convention, kubectl 1.26+).
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import shlex
import sys
from collections.abc import Callable, Coroutine, Iterable, Sequence
from pathlib import Path
from typing import Any, Final

from netiso.cli.printing import OutputAction

# A completion waits this long for the API server: a slow cluster must not hang the shell.
TIMEOUT_SECONDS: Final = 3.0
_FILE_METAVARS: Final = frozenset({"FILE", "KUBECONFIG", "FILE|DIR"})
_DIR_METAVARS: Final = frozenset({"DIR"})
# Cobra's ShellCompDirective bits, which kubectl reads from the plugin's last output line.
_NO_SPACE: Final = 2
_NO_FILE_COMPLETION: Final = 4

Completer = Callable[..., Iterable[str]]


def shell_script(shell: str, *, programs: Sequence[str]) -> str:
    """The script that registers completion of each of `programs` in `shell`."""
    import argcomplete

    script: str = argcomplete.shellcode(list(programs), shell=shell)
    return script


def complete(parser: argparse.ArgumentParser, *, in_process: bool = False, **finder: Any) -> None:
    """Answer the shell's completion request (argcomplete's environment) with completers on
    `parser`'s arguments; returns without doing anything when the shell did not ask.

    `in_process`: debug output goes to stderr, not to argcomplete's file descriptor 9, which in
    a process that did not come from the shell's script may be any open file.
    """
    import argcomplete
    from argcomplete import io as argcomplete_io

    class InProcess(argcomplete.CompletionFinder):
        def _init_debug_stream(self) -> None:
            argcomplete_io.debug_stream = sys.stderr

    class Nothing(argcomplete.completers.BaseCompleter):
        """Values netiso cannot guess (a selector, a port) complete to nothing."""

        def __call__(self, **_: Any) -> list[str]:
            return []

    attach_completers(parser)
    finder_class = InProcess if in_process else argcomplete.CompletionFinder
    finder_class()(parser, default_completer=Nothing(), always_complete_options=False, **finder)


def attach_completers(parser: argparse.ArgumentParser) -> None:
    """Give every argument of `parser` and its subcommands what completes its value."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for subparser in action.choices.values():
                attach_completers(subparser)
            continue
        completer = _completer_for(action)
        if completer is not None:
            action.completer = completer  # type: ignore[attr-defined]


def _completer_for(action: argparse.Action) -> Completer | None:
    import argcomplete
    from argcomplete.completers import DirectoriesCompleter, FilesCompleter

    if isinstance(action, OutputAction):
        return argcomplete.ChoicesCompleter(
            [f"{name}=" if name == "jsonpath" else name for name in action.formats]
        )
    if action.choices:
        return None  # argcomplete completes choices itself
    metavar = str(action.metavar or "")
    if action.dest == "namespace" or metavar == "NAMESPACE":
        return namespaces
    if action.dest == "context":
        return contexts
    if action.dest == "profile" and metavar == "NAME":
        return profiles
    if action.dest in ("source", "destination"):
        return pods
    if metavar in _DIR_METAVARS:
        return DirectoriesCompleter()
    if metavar in _FILE_METAVARS or action.dest in ("kubeconfig", "files", "templates"):
        return FilesCompleter()
    if action.type is Path:
        return FilesCompleter()
    return None


def contexts(prefix: str, parsed_args: argparse.Namespace, **_: Any) -> list[str]:
    """The kubeconfig's context names (--kubeconfig, else $KUBECONFIG, else ~/.kube/config)."""
    from netiso.runtime.credentials import context_names

    try:
        names = context_names(getattr(parsed_args, "kubeconfig", None))
    except Exception:  # an unreadable kubeconfig completes to nothing
        return []
    return [name for name in names if name.startswith(prefix)]


def namespaces(prefix: str, parsed_args: argparse.Namespace, **_: Any) -> list[str]:
    """The cluster's namespace names."""
    from netiso.runtime.reading import NAMESPACES, list_all

    async def names(api: Any) -> list[str]:
        return [_name(body) async for body in list_all(api, NAMESPACES)]

    return [name for name in _ask(parsed_args, names) if name.startswith(prefix)]


def profiles(prefix: str, parsed_args: argparse.Namespace, **_: Any) -> list[str]:
    """The cluster's IsolationProfile names."""
    from netiso.runtime.reading import profiles as read_profiles

    async def names(api: Any) -> list[str]:
        return [_name(body) for body in await read_profiles(api)]

    return [name for name in _ask(parsed_args, names) if name.startswith(prefix)]


def pods(prefix: str, parsed_args: argparse.Namespace, **_: Any) -> list[str]:
    """`NAMESPACE/` while no namespace is typed, then that namespace's `NAMESPACE/POD`s."""
    from netiso.runtime.reading import NAMESPACES, list_all

    namespace, slash, _rest = prefix.partition("/")

    async def names(api: Any) -> list[str]:
        if not slash:
            return [f"{_name(body)}/" async for body in list_all(api, NAMESPACES)]
        path = f"{NAMESPACES}/{namespace}/pods"
        return [f"{namespace}/{_name(body)}" async for body in list_all(api, path)]

    return [name for name in _ask(parsed_args, names) if name.startswith(prefix)]


def _name(body: dict[str, Any]) -> str:
    return str((body.get("metadata") or {}).get("name") or "")


def _ask(
    parsed_args: argparse.Namespace, question: Callable[[Any], Coroutine[Any, Any, list[str]]]
) -> list[str]:
    """Ask the cluster the command line points at (its --kubeconfig and --context); nothing
    when it cannot be asked in TIMEOUT_SECONDS."""
    from netiso.runtime.client import ApiClient
    from netiso.runtime.credentials import load_credentials

    async def run() -> list[str]:
        credentials = load_credentials(
            getattr(parsed_args, "kubeconfig", None), context=getattr(parsed_args, "context", None)
        )
        api = ApiClient(credentials, timeout=TIMEOUT_SECONDS, retries=1)
        try:
            return await asyncio.wait_for(question(api), TIMEOUT_SECONDS)
        finally:
            await api.close()

    try:
        return asyncio.run(run())
    except Exception:  # no kubeconfig, no server, no permission: no suggestions
        return []


def kubectl_complete(argv: Sequence[str] | None = None) -> int:
    """`kubectl_complete-netiso WORD... PARTIAL`: what completes PARTIAL after
    `kubectl netiso WORD...`, one per line, then Cobra's `:DIRECTIVE` line, as kubectl asks
    its plugins (https://github.com/kubernetes/kubernetes/pull/105867)."""
    from netiso.cli.app import build_parser

    words = list(sys.argv[1:] if argv is None else argv) or [""]
    *typed, partial = words
    line = shlex.join(["netiso", *typed]) + " " + (shlex.quote(partial) if partial else "")
    out = io.StringIO()
    environment = {
        "_ARGCOMPLETE": "1",
        "_ARGCOMPLETE_IFS": "\n",
        "COMP_LINE": line,
        "COMP_POINT": str(len(line)),
    }
    saved = {key: os.environ.get(key) for key in environment}
    os.environ.update(environment)
    try:
        complete(
            build_parser("kubectl netiso"),
            in_process=True,
            output_stream=out,
            exit_method=_done,
            append_space=False,
        )
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    found = [word for word in out.getvalue().split("\n") if word]
    directive = _NO_FILE_COMPLETION
    if any(word.endswith(("/", "=")) for word in found):
        directive |= _NO_SPACE  # a directory, NAMESPACE/ or jsonpath= goes on being typed
    sys.stdout.write("".join(f"{word}\n" for word in found) + f":{directive}\n")
    return 0


def _done(_code: int) -> None:
    """argcomplete's exit_method: return to kubectl_complete instead of exiting."""
