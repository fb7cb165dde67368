"""netiso: keeps opted-in namespaces behind a default-deny NetworkPolicy baseline.

The package is layered (see .importlinter): handlers adapt Kopf, reconciling runs the pipeline,
reporting/cluster/rendering/model are the services beneath it. The version is written once, in
pyproject.toml, and read from the installed package's metadata on first use.
"""

from __future__ import annotations

import functools


@functools.cache
def version() -> str:
    """The installed package's version; `0+unknown` when run from a tree that is not installed."""
    # Imported here: importlib.metadata alone takes longer to import than the rest of the
    # package, and most commands never ask for the version.
    from importlib import metadata

    try:
        return metadata.version("netiso")
    except metadata.PackageNotFoundError:
        return "0+unknown"


def __getattr__(name: str) -> str:
    # `from netiso import __version__` keeps working, without reading metadata at import time.
    if name == "__version__":
        return version()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
