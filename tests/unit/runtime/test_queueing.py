"""The work queue: coalescing, re-running a namespace changed while it ran, settle, backoff."""

from __future__ import annotations

import asyncio

from netiso.runtime.queueing import WorkQueue


class Recorder:
    """A work function that records each run and can be held mid-run."""

    def __init__(self) -> None:
        self.runs: list[str] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.started = asyncio.Event()

    async def __call__(self, namespace: str) -> str:
        self.runs.append(namespace)
        self.started.set()
        await self.gate.wait()
        return f"done {namespace} #{self.runs.count(namespace)}"


async def test_a_namespace_queued_twice_runs_once() -> None:
    work = Recorder()
    queue: WorkQueue[str] = WorkQueue(work)
    queue.enqueue("a")
    queue.enqueue("a")
    queue.enqueue("b")
    assert queue.depth == 2
    queue.start(1)
    try:
        results = await queue.settle(["a", "b"])
    finally:
        await queue.stop()
    # settle() asks again, but "a" and "b" are still queued: it coalesces with them.
    assert sorted(work.runs) == ["a", "b"]
    assert results == {"a": "done a #1", "b": "done b #1"}


async def test_a_namespace_asked_for_while_running_runs_again_afterwards() -> None:
    work = Recorder()
    queue: WorkQueue[str] = WorkQueue(work)
    queue.start(2)
    try:
        work.gate.clear()
        queue.enqueue("a")
        await asyncio.wait_for(work.started.wait(), 1)
        waiter = asyncio.create_task(queue.settle(["a"]))
        await asyncio.sleep(0.01)
        queue.enqueue("a")  # coalesces with the pending re-run
        work.gate.set()
        result = await asyncio.wait_for(waiter, 1)
    finally:
        await queue.stop()
    # The waiter gets the run that started after it asked, never the one already under way.
    assert work.runs == ["a", "a"]
    assert result == {"a": "done a #2"}


async def test_depth_is_reported_as_it_changes() -> None:
    depths: list[int] = []
    queue: WorkQueue[str] = WorkQueue(Recorder(), on_depth=depths.append)
    queue.enqueue_many(["a", "b", "a"])
    assert depths == [1, 2]
    queue.start(1)
    try:
        await queue.settle([])
        await asyncio.sleep(0.05)
    finally:
        await queue.stop()
    assert depths[-1] == 0


async def test_settle_of_nothing_returns_at_once() -> None:
    queue: WorkQueue[str] = WorkQueue(Recorder())
    assert await asyncio.wait_for(queue.settle([]), 0.1) == {}


async def test_failures_back_off_exponentially_up_to_the_cap() -> None:
    queue: WorkQueue[str] = WorkQueue(Recorder(), max_retry_delay=4.0)
    delays = [queue.failed("a") for _ in range(5)]
    assert delays == [1.0, 2.0, 4.0, 4.0, 4.0]
    queue.succeeded("a")
    assert queue.failed("a") == 1.0


async def test_a_failed_namespace_is_retried_after_its_delay() -> None:
    work = Recorder()
    queue: WorkQueue[str] = WorkQueue(work, max_retry_delay=0.05)
    queue.start(1)
    try:
        queue.failed("a")  # first delay: min(1 s, cap 0.05 s)
        for _ in range(50):
            if work.runs:
                break
            await asyncio.sleep(0.01)
    finally:
        await queue.stop()
    assert work.runs == ["a"]


async def test_idle_waits_until_nothing_is_queued() -> None:
    queue: WorkQueue[str] = WorkQueue(Recorder())
    await asyncio.wait_for(queue.idle(), 0.1)
    queue.enqueue("a")
    waiting = asyncio.create_task(queue.idle())
    await asyncio.sleep(0.01)
    assert not waiting.done()
    queue.start(1)
    try:
        await asyncio.wait_for(waiting, 1)
    finally:
        await queue.stop()
