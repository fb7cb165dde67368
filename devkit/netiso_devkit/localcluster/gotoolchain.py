"""The Go toolchain as the binary builds use it: finding go, running it with progress, modules.

Runs `go` with a reproducible environment and a heartbeat, downloads modules from the proxy,
reads go.mod (go directive, staging modules) and lists versions; also BinariesError and semver
checks shared by the whole build. Part of netiso_devkit.localcluster (knows nothing of the
operator).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, TextIO

from netiso_devkit.localcluster.progress import Heartbeat, Progress, stderr_terminal

# Seconds between two progress lines during a build step (at most progress.MAX_SILENCE_SECONDS).
HEARTBEAT_SECONDS: Final = 10.0

_SEMVER = re.compile(r"^v(\d+)\.(\d+)\.(\d+)$")
# `k8s.io/api v0.0.0` (require) or `k8s.io/api => ./staging/src/k8s.io/api` (replace); not
# `k8s.io/utils v0.0.0-2025...`, a real pseudo-version of a module that is not in staging.
_STAGING_LINE = re.compile(
    r"^\s*(k8s\.io/[A-Za-z0-9._-]+)\s+"
    r"(?:v0\.0\.0\s*(?://.*)?$|=>\s*\./staging/)"
)


class BinariesError(RuntimeError):
    """The binaries could not be found, built or run; the message says what to do."""


def say_on_stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def check_semver(version: str, *, what: str) -> tuple[int, int, int]:
    match = _SEMVER.match(version)
    if not match:
        raise BinariesError(f"{what}: expected vMAJOR.MINOR.PATCH, got {version!r}")
    return int(match.group(1)), int(match.group(2)), int(match.group(3))


def go_binary() -> str:
    go = shutil.which("go")
    if go is None:
        raise BinariesError("`go` is not on PATH; it is needed once to build the binaries")
    return go


def go_env() -> dict[str, str]:
    env = dict(os.environ)
    # Reproducible, static binaries built by the installed toolchain, outside any workspace.
    env.update(
        GOWORK="off", GOTOOLCHAIN="local", CGO_ENABLED="0", GOFLAGS="-mod=mod -buildvcs=false"
    )
    return env


def run_go(
    go: str,
    args: list[str],
    *,
    cwd: Path,
    log: Path,
    say: Progress | None = None,
    what: str | None = None,
) -> str:
    """Run one go command, appending its output to `log`; raise with the log's tail on failure.

    With `what`, a heartbeat reports it with the elapsed time and go's latest output line (a
    module downloaded, a package compiled) every HEARTBEAT_SECONDS (10 s) through `say`.
    """
    lines: list[str] = []
    with log.open("a") as sink:
        sink.write(f"\n$ go {' '.join(args)}\n")
        sink.flush()
        process = subprocess.Popen(
            [go, *args],
            cwd=cwd,
            env=go_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        assert process.stdout is not None
        with contextlib.ExitStack() as stack:
            beat = None
            if what is not None:
                beat = stack.enter_context(
                    Heartbeat(
                        what,
                        say=say or say_on_stderr,
                        interval=HEARTBEAT_SECONDS,
                        terminal=_terminal_for(say),
                    )
                )
            for line in process.stdout:
                sink.write(line)
                lines.append(line)
                if beat is not None:
                    beat.note(line)
            returncode = process.wait()
    output = "".join(lines)
    if returncode != 0:
        tail = "\n".join(output.splitlines()[-20:])
        raise BinariesError(f"`go {args[0]}` failed (exit {returncode}); see {log}:\n{tail}")
    return output


def _terminal_for(say: Progress | None) -> TextIO | None:
    # A redrawn status line only where netiso itself writes to a terminal: a caller's own
    # progress callback gets plain lines.
    return stderr_terminal() if say is None or say is say_on_stderr else None


@dataclass(frozen=True)
class GoModule:
    """What `go mod download -json` reports about one module version."""

    gomod: Path
    info: Path
    commit: str | None


def download_module(go: str, *, module: str, log: Path, say: Progress) -> GoModule:
    # `go mod download` wants a main module; a throwaway one keeps a half-written wrapper
    # go.mod from an earlier failed build out of the way.
    with tempfile.TemporaryDirectory(prefix="netiso-download-") as scratch:
        Path(scratch, "go.mod").write_text("module netiso.local/download\n")
        output = run_go(
            go,
            ["mod", "download", "-json", module],
            cwd=Path(scratch),
            log=log,
            say=say,
            what=f"downloading {module}",
        )
    raw: dict[str, Any] = json.loads(output)
    if "Error" in raw or "GoMod" not in raw:
        raise BinariesError(f"module proxy could not serve {module}: {raw.get('Error')}")
    # Origin (with the tag's commit) is only present when fetched from the VCS directly.
    origin = raw.get("Origin") or {}
    return GoModule(gomod=Path(raw["GoMod"]), info=Path(raw["Info"]), commit=origin.get("Hash"))


def module_time(module: GoModule) -> str:
    try:
        stamp = json.loads(module.info.read_text()).get("Time")
    except (OSError, ValueError):
        stamp = None
    if isinstance(stamp, str):
        return stamp
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def go_directive_of(gomod: Path) -> str | None:
    match = re.search(r"^go\s+(\S+)\s*$", gomod.read_text(), flags=re.MULTILINE)
    return match.group(1) if match else None


def go_version_of(go: str) -> str:
    result = subprocess.run(
        [go, "env", "GOVERSION"], env=go_env(), capture_output=True, text=True, check=True
    )
    return result.stdout.strip()


def newest_patch(module: str, *, like: str) -> str:
    """The newest vX.Y.* of `module` that the proxy lists, X.Y taken from `like`."""
    major, minor, _ = check_semver(like, what="pinned version")
    with tempfile.TemporaryDirectory(prefix="netiso-golist-") as scratch:
        Path(scratch, "go.mod").write_text("module netiso.local/versions\n")
        result = subprocess.run(
            [go_binary(), "list", "-m", "-versions", module],
            cwd=scratch,
            env=go_env(),
            capture_output=True,
            text=True,
            check=False,
        )
    if result.returncode != 0:
        raise BinariesError(f"cannot list versions of {module}: {result.stderr.strip()}")
    patches = [
        check_semver(v, what=module)[2]
        for v in result.stdout.split()[1:]
        if _SEMVER.match(v) and v.startswith(f"v{major}.{minor}.")
    ]
    if not patches:
        raise BinariesError(f"the module proxy lists no v{major}.{minor}.x of {module}")
    return f"v{major}.{minor}.{max(patches)}"


def staging_modules(gomod: Path) -> list[str]:
    """The k8s.io modules that kubernetes' go.mod pins to v0.0.0 and replaces with staging/."""
    modules: set[str] = set()
    for line in gomod.read_text().splitlines():
        match = _STAGING_LINE.match(line)
        if match:
            modules.add(match.group(1))
    if not modules:
        raise BinariesError(f"no k8s.io staging modules found in {gomod}")
    return sorted(modules)
