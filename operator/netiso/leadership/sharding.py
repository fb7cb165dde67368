"""Profile status across shards: each shard's leader publishes its counts, shard 0's writes.

Reconciling layer. A profile's namespaces spread over every shard, but its status has one
writer, the leader of shard 0, so two leaders never fight over it. Every shard leader puts
its per-profile counts in its own Lease with each renewal (no extra write); shard 0's leader
reads them from the Leases it watches, adds its own and writes the sum.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from netiso.leadership.electing import Elector
from netiso.model.leases import shard_of
from netiso.reconciling.reconciler import Reconciler
from netiso.reporting.reports import tallies_by_profile
from netiso.reporting.statuses import Tally, decode_tallies, encode_tallies


class ShardTallies:
    """Publishes this replica's counts per held shard and sums the others' for the status."""

    def __init__(self, *, elector: Elector, reconciler: Reconciler, interval: float) -> None:
        self._elector = elector
        self._reconciler = reconciler
        self._interval = interval
        self._seen: dict[int, str] = {}

    def publish(self, shard: int) -> str:
        """This replica's counts for the namespaces of `shard`, for the shard's Lease."""
        shards = self._elector.shards
        records = self._reconciler.records()
        return encode_tallies(
            tallies_by_profile(
                record for ns, record in records.items() if shard_of(ns, shards) == shard
            )
        )

    def remote(self, profile: str) -> Tally:
        """The profile's counts in the shards other replicas lead, as last published."""
        total = Tally()
        for counts in self._published().values():
            total = total.plus(counts.get(profile, Tally()))
        return total

    def _published(self) -> Mapping[int, dict[str, Tally]]:
        held = self._elector.held()
        return {
            shard: decode_tallies(self._elector.notes(shard))
            for shard in range(self._elector.shards)
            if shard not in held
        }

    async def run(self) -> None:
        """Mark a profile's status for recomputation whenever another shard's counts change."""
        while True:
            await asyncio.sleep(self._interval)
            held = self._elector.held()
            for shard in range(self._elector.shards):
                notes = "" if shard in held else self._elector.notes(shard)
                before = self._seen.get(shard, "")
                if notes == before:
                    continue
                self._seen[shard] = notes
                self._reconciler.mark_dirty(
                    set(decode_tallies(before)) | set(decode_tallies(notes))
                )
