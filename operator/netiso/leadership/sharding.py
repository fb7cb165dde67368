"""Profile status across shards: each shard's leader publishes its part, shard 0's writes.

Leadership layer. A profile's namespaces spread over every shard, but its status has one
writer, the leader of shard 0, so two leaders never fight over it. Every shard leader puts
its per-profile counts and first weakened namespaces in its own Lease with each renewal (no
extra write); shard 0's leader reads them from the Leases it watches and merges them with its own.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping

from netiso.leadership.electing import Leadership
from netiso.model.leases import shard_of
from netiso.observed.entries import Record
from netiso.reporting.reports import shown_tallies
from netiso.reporting.statuses import Tally, decode_tallies, encode_tallies


def shard_notes(records: Mapping[str, Record], *, shard: int, shards: int) -> str:
    """This replica's counts and weakened namespaces for the namespaces of `shard`, for the
    shard's Lease."""
    return encode_tallies(
        shown_tallies(
            {ns: record for ns, record in records.items() if shard_of(ns, shards) == shard}
        )
    )


class ShardTallies:
    """Sums the counts other replicas publish for the shards they lead, for the status."""

    def __init__(self, *, leadership: Leadership, interval: float) -> None:
        self._leadership = leadership
        self._interval = interval
        self._seen: dict[int, str] = {}
        # Each shard's notes as last decoded: the status flusher asks once per dirty profile,
        # and the notes, weakened namespaces' words included, change far less often.
        self._decoded: dict[int, tuple[str, dict[str, Tally]]] = {}

    def remote(self, profile: str) -> Tally:
        """The profile's counts in the shards other replicas lead, as last published."""
        total = Tally()
        for counts in self._published().values():
            total = total.plus(counts.get(profile, Tally()))
        return total

    def _published(self) -> Mapping[int, dict[str, Tally]]:
        held = self._leadership.held()
        return {
            shard: self._decode(shard)
            for shard in range(self._leadership.shards)
            if shard not in held
        }

    def _decode(self, shard: int) -> dict[str, Tally]:
        notes = self._leadership.notes(shard)
        cached = self._decoded.get(shard)
        if cached is None or cached[0] != notes:
            cached = (notes, decode_tallies(notes))
            self._decoded[shard] = cached
        return cached[1]

    async def run(self, *, mark_dirty: Callable[[Iterable[str]], None]) -> None:
        """Call `mark_dirty(profiles)` whenever another shard's counts for them change."""
        while True:
            await asyncio.sleep(self._interval)
            held = self._leadership.held()
            for shard in range(self._leadership.shards):
                notes = "" if shard in held else self._leadership.notes(shard)
                before = self._seen.get(shard, "")
                if notes == before:
                    continue
                self._seen[shard] = notes
                mark_dirty(set(decode_tallies(before)) | set(decode_tallies(notes)))
