"""Writes awaiting their watch echo: what netiso wrote, layered over the view until it catches up.

Reconciling layer, pure (time is passed in). Right after a write the view still shows the old
object; the overlay shows the written one instead, so a reconcile running before the echo
neither writes twice nor calls its own write drift. An entry goes when its echo arrives or
after `ttl` seconds, whichever comes first. Writes still in flight are known too: their echo
often arrives before the API server's answer, and is then recognised by its content.
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
        # namespace -> policy name -> (content hash being written, None for a delete; whether
        # its echo has been seen already), from `sending` until `remember`.
        self._sending: dict[str, dict[str, tuple[str | None, bool]]] = {}

    def __len__(self) -> int:
        return sum(len(writes) for writes in self._writes.values())

    def sending(self, namespace: str, writes: Iterable[tuple[str, str | None]]) -> None:
        """Note writes about to be sent: (name, content hash of the rendering, or None for a
        delete). Replaces whatever was noted for the namespace before."""
        self._sending[namespace] = {name: (content, False) for name, content in writes}

    def remember(
        self, namespace: str, writes: Iterable[tuple[str, LivePolicy | None]], *, now: float
    ) -> None:
        """Record writes just made (None: the policy was deleted), and end what `sending`
        noted for the namespace (also for writes that failed: call it with the ones that
        succeeded). A write whose echo was seen while it was in flight is not kept: the view
        holds it already."""
        sent = self._sending.pop(namespace, {})
        overlay = self._writes.setdefault(namespace, {})
        for name, live in writes:
            if not sent.get(name, (None, False))[1]:
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
        Either way the entry goes: the view has caught up. A write still in flight (the watch
        can deliver its event before the API server's answer arrives) is recognised by the
        content it sends; anything else is not an echo and re-checks the namespace.
        """
        overlay = self._writes.get(live.namespace)
        if overlay is None or live.name not in overlay:
            return self._echoes_sending(live, deleted=deleted)
        written, _ = overlay.pop(live.name)
        if not overlay:
            del self._writes[live.namespace]
        if deleted:
            return written is None
        return written is not None and _same_content(live, written.actual_hash)

    def _echoes_sending(self, live: LivePolicy, *, deleted: bool) -> bool:
        sent = self._sending.get(live.namespace, {})
        if live.name not in sent:
            return False
        content, _ = sent[live.name]
        echo = content is None if deleted else content is not None and _same_content(live, content)
        if echo:
            sent[live.name] = (content, True)
        return echo


def _same_content(live: LivePolicy, content: str) -> bool:
    """The object is netiso's rendering with hash `content`, as netiso recorded it."""
    return not live.edited and live.actual_hash == content
