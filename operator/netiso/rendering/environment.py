"""Where the policy templates live and the Jinja environment that renders them.

Rendering layer, pure: nothing happens at import time. The operator builds one environment at
startup (kept on Kopf's memo); the CLI builds one per run.
"""

from __future__ import annotations

from pathlib import Path

import jinja2
import jinja2.sandbox


def shipped_templates_dir() -> Path:
    """The templates netiso ships: inside the installed package, else the checkout's templates/."""
    package = Path(__file__).resolve().parent.parent
    # Installed wheel: pyproject force-includes templates/ as the package data netiso/templates.
    packaged = package / "templates"
    if packaged.is_dir():
        return packaged
    # Source or editable checkout: <repo>/operator/netiso -> <repo>/templates.
    return package.parent.parent / "templates"


Templates = jinja2.Environment
"""The compiled policy templates, as the layers above rendering name them without jinja2."""


def make_environment(templates_dir: Path | None = None) -> jinja2.Environment:
    """A sandboxed Jinja environment over `templates_dir` (None: the shipped templates).

    The immutable sandbox keeps a custom template (`--templates`, NETISO_TEMPLATES_DIR) from
    reaching Python internals (`__class__`, `__globals__`) or mutating the values it is given;
    it measured no slower than the plain environment on the shipped templates.
    StrictUndefined turns a misspelt variable into an error instead of an empty string;
    trim_blocks/lstrip_blocks let `{% if %}` lines sit in YAML without leaving blank lines;
    autoescape is off because the output is YAML, and values go in through `| tojson`.
    The directory is not read until a template is first loaded.
    """
    env = jinja2.sandbox.ImmutableSandboxedEnvironment(
        loader=jinja2.FileSystemLoader(templates_dir or shipped_templates_dir()),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        # Templates are read once per process; checking their mtime on every render was a
        # stat() per policy per reconcile. Changing templates means restarting the operator.
        auto_reload=False,
        autoescape=False,
    )
    # `| tojson` on an undefined name would otherwise fail as a bare TypeError from json.
    env.policies["json.dumps_kwargs"] = {"sort_keys": True, "default": _json_default}
    return env


def _json_default(value: object) -> object:
    """Serialise what json cannot: an Undefined raises its UndefinedError naming the variable."""
    if isinstance(value, jinja2.Undefined):
        # StrictUndefined raises UndefinedError("'name' is undefined") on str().
        return str(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def templates_dir_of(env: jinja2.Environment) -> str:
    """The directory an environment loads from, for error messages ("" if not a file loader)."""
    loader = env.loader
    if isinstance(loader, jinja2.FileSystemLoader):
        return ", ".join(str(path) for path in loader.searchpath)
    return ""
