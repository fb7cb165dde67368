"""Writes awaiting their watch echo: what netiso wrote, layered over the view until it catches up.

Reconciling layer, pure (time is passed in). Right after a write the view still shows the old
object; the overlay shows the written one instead, so a reconcile running before the echo
neither writes twice nor calls its own write drift. An entry goes when its echo arrives or
after `ttl` seconds, whichever comes first.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Final

from netiso.observed.drifts import LivePolicy

OVERLAY_TTL: Final = 30.0


class WriteOverlay:
    """namespace -> policy name -> (what netiso left there, None after a delete; when)."""

    def __init__(self, *, ttl: float = OVERLAY_TTL) -> None:
        self._ttl = ttl
        self._writes: dict[str, dict[str, tuple[LivePolicy | None, float]]] = {}

    def __len__(self) -> int:
        return sum(len(writes) for writes in self._writes.values())

    def remember(
        self, namespace: str, writes: Iterable[tuple[str, LivePolicy | None]], *, now: float
    ) -> None:
        """Record writes just made (None: the policy was deleted)."""
        overlay = self._writes.setdefault(namespace, {})
        for name, live in writes:
            overlay[name] = (live, now)
        if not overlay:
            del self._writes[namespace]

    def over(self, namespace: str, live: Sequence[LivePolicy], *, now: float) -> list[LivePolicy]:
        """The namespace's live policies with netiso's unechoed writes in place; drops stale
        entries."""
        overlay = self._writes.get(namespace)
        if not overlay:
            return list(live)
        merged = {p.name: p for p in live}
        for name, (policy, written_at) in list(overlay.items()):
            if now - written_at > self._ttl:
                del overlay[name]
            elif policy is None:
                merged.pop(name, None)
            else:
                merged[name] = policy
        if not overlay:
            del self._writes[namespace]
        return list(merged.values())

    def written(self, namespace: str, name: str) -> LivePolicy | None:
        """What netiso last wrote at namespace/name and has not seen echoed (None: nothing,
        or a delete)."""
        entry = self._writes.get(namespace, {}).get(name)
        return entry[0] if entry is not None else None

    def is_echo(self, live: LivePolicy, *, deleted: bool) -> bool:
        """Consume the entry for `live` and say whether the event merely echoes netiso's write.

        An echo is the delete netiso made, or an object with exactly the content netiso wrote.
        Either way the entry goes: the view has caught up.
        """
        overlay = self._writes.get(live.namespace)
        if overlay is None or live.name not in overlay:
            return False
        written, _ = overlay.pop(live.name)
        if not overlay:
            del self._writes[live.namespace]
        if deleted:
            return written is None
        return written is not None and not live.edited and live.actual_hash == written.actual_hash
