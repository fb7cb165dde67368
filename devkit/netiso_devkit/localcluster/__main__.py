"""`python -m netiso_devkit.localcluster`: a local control plane in the foreground until stopped.

With --state-dir it is the detached runner that `netiso cluster up` starts; without it, a
developer's throwaway cluster in a temporary directory that Ctrl-C removes.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    """Parse arguments and run until SIGTERM or Ctrl-C; the exit code says how it ended."""
    parser = argparse.ArgumentParser(
        prog="python -m netiso_devkit.localcluster", description=__doc__
    )
    parser.add_argument(
        "--state-dir",
        type=Path,
        default=None,
        help="run as `netiso cluster up`'s runner, keeping files here (default: a temp dir)",
    )
    parser.add_argument(
        "--dataplane",
        action="store_true",
        help="with --state-dir: also run a node with a test-only NetworkPolicy enforcer",
    )
    args = parser.parse_args(argv)
    # Imported here so `--help` stays instant and importing this module does no work.
    from netiso_devkit.localcluster.commands import run_detached, run_foreground

    if args.state_dir is not None:
        return run_detached(args.state_dir, dataplane=args.dataplane)
    return run_foreground()


if __name__ == "__main__":
    sys.exit(main())
