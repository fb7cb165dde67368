"""The Runtime kept on Kopf's memo, as the handlers reach it.

Handlers layer. The startup handler (lifecycle.py) puts the Runtime that assembly.py builds on
the memo; every other handler reaches it through `runtime_of(memo)`.
"""

from __future__ import annotations

import kopf

from netiso.assembly import Runtime


def runtime_of(memo: kopf.Memo) -> Runtime:
    """The Runtime the startup handler put on the memo."""
    runtime = memo.get("netiso")
    if not isinstance(runtime, Runtime):
        raise kopf.TemporaryError("netiso is still starting", delay=1)
    return runtime
