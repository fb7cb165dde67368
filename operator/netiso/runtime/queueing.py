"""The coalescing work queue: one pending reconcile per namespace, bounded workers, backoff.

Reconciling layer, no I/O of its own. A namespace asked for while queued is not queued twice;
asked for while running, it runs once more afterwards (so no change is ever missed); `settle`
waits for a run that started after the call. Failed namespaces are retried with capped
exponential backoff.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from typing import Final, Generic, TypeVar

from netiso.runtime.tasking import cancel_all

R = TypeVar("R")

MAX_RETRY_DELAY: Final = 60.0


class WorkQueue(Generic[R]):
    """Runs `work(namespace)` for queued namespaces with `workers` concurrent workers."""

    def __init__(
        self,
        work: Callable[[str], Awaitable[R]],
        *,
        on_depth: Callable[[int], None] = lambda depth: None,
        max_retry_delay: float = MAX_RETRY_DELAY,
    ) -> None:
        self._work = work
        self._on_depth = on_depth
        self._max_retry_delay = max_retry_delay
        self._queue: asyncio.Queue[str] = asyncio.Queue()
        self._queued: set[str] = set()
        self._running: set[str] = set()
        self._dirty: set[str] = set()
        self._waiters: dict[str, list[asyncio.Future[R]]] = {}
        self._failures: dict[str, int] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._idle = asyncio.Event()
        self._idle.set()

    def start(self, workers: int) -> None:
        """Start the workers; namespaces queued before this wait for them."""
        for index in range(workers):
            self._tasks.append(asyncio.create_task(self._worker(), name=f"netiso-worker-{index}"))

    async def stop(self) -> None:
        """Cancel the workers; what is queued is dropped (a restart redoes it)."""
        await cancel_all(self._tasks)

    @property
    def depth(self) -> int:
        """Namespaces waiting (not counting those running)."""
        return len(self._queued)

    async def idle(self) -> None:
        """Return once no namespace is waiting (some may still be running)."""
        await self._idle.wait()

    def enqueue(self, namespace: str) -> None:
        """Ask for a run of `namespace`; coalesces with one queued or running."""
        if namespace in self._queued:
            return
        if namespace in self._running:
            self._dirty.add(namespace)
            return
        self._queued.add(namespace)
        self._queue.put_nowait(namespace)
        self._idle.clear()
        self._on_depth(len(self._queued))

    def enqueue_many(self, namespaces: Iterable[str]) -> None:
        """enqueue() each."""
        for namespace in namespaces:
            self.enqueue(namespace)

    async def settle(self, namespaces: Iterable[str]) -> dict[str, R]:
        """Run the namespaces and wait for a run of each that started after this call."""
        loop = asyncio.get_running_loop()
        futures: dict[str, asyncio.Future[R]] = {}
        for namespace in set(namespaces):
            future: asyncio.Future[R] = loop.create_future()
            self._waiters.setdefault(namespace, []).append(future)
            futures[namespace] = future
            self.enqueue(namespace)
        if not futures:
            return {}
        await asyncio.gather(*futures.values())
        return {namespace: future.result() for namespace, future in futures.items()}

    def failed(self, namespace: str) -> float:
        """Note a failed run and schedule a retry; returns the delay in seconds."""
        failures = self._failures.get(namespace, 0) + 1
        self._failures[namespace] = failures
        delay = min(2.0 ** (failures - 1), self._max_retry_delay)
        asyncio.get_running_loop().call_later(delay, self.enqueue, namespace)
        return delay

    def succeeded(self, namespace: str) -> None:
        """Reset the namespace's backoff."""
        self._failures.pop(namespace, None)

    async def _worker(self) -> None:
        while True:
            namespace = await self._queue.get()
            self._queued.discard(namespace)
            if not self._queued:
                self._idle.set()
            self._on_depth(len(self._queued))
            self._running.add(namespace)
            try:
                result = await self._work(namespace)
            finally:
                self._running.discard(namespace)
            if namespace in self._dirty:
                self._dirty.discard(namespace)
                self.enqueue(namespace)
                continue
            for future in self._waiters.pop(namespace, []):
                if not future.done():
                    future.set_result(result)
