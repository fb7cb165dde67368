"""Entry point: `python -m bench [--n 1000] [--scenarios ...] [--kubeconfig ...]`, run from the
repository root (so `bench` and the integration helpers in `tests.integration` import as
packages, and `netiso` from the installed package)."""

from __future__ import annotations

import sys

from bench.suite import main

sys.exit(main())
