"""Background asyncio tasks: stopping a group of them cleanly.

Bottom layer beside conventions (imports nothing of netiso); every component that runs
background tasks (Event senders, workers, the status flusher) stops them the same way.
"""

from __future__ import annotations

import asyncio
import contextlib


async def cancel_all(tasks: list[asyncio.Task[None]]) -> None:
    """Cancel the tasks, wait until each has stopped, and empty the list."""
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task
    tasks.clear()
