"""Entry point: `python bench/run.py [--n 1000] [--scenarios ...] [--kubeconfig ...]`.

Puts the repository root first on sys.path (instead of bench/, which Python adds for a script)
so `bench.*` and the integration harness in `tests.integration` import as packages.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

if __name__ == "__main__":
    sys.path[0] = str(ROOT)
    sys.path.insert(1, str(ROOT / "operator"))
    from bench.suite import main

    sys.exit(main())
