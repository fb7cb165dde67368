"""Leader election by Lease, as pure decisions: who may take a Lease, and until when one writes.

Model layer, no I/O and no clock of its own: callers pass monotonic times in. The rules are
client-go's: a Lease is free when released or when its record has not changed for its duration
as seen by the observer's own clock; a holder renews every retry period and stops writing at
the renew deadline after its last successful renewal, which comes before anyone may take over.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


@dataclass(frozen=True)
class Timing:
    """The three durations of leader election, in seconds."""

    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0


@dataclass(frozen=True)
class LeaseRecord:
    """What a Lease says. An empty holder means released."""

    holder: str
    duration: float
    transitions: int = 0
    acquired: str | None = None
    renewed: str | None = None
    version: str = ""
    # What the holder publishes for the other replicas (the shard's status tallies), opaque here.
    notes: str = ""


@dataclass(frozen=True)
class Sighting:
    """A Lease record and the local monotonic time its current version was first seen."""

    record: LeaseRecord
    since: float


class Move(StrEnum):
    """What a replica does about one Lease in one round."""

    CREATE = "create"
    TAKE = "take"
    RENEW = "renew"
    WAIT = "wait"


def sight(previous: Sighting | None, record: LeaseRecord, *, now: float) -> Sighting:
    """The sighting after reading `record`: the clock restarts only when the record changed.

    Comparing versions (not wall-clock times in the record) keeps clock skew between replicas
    out of the decision, as client-go does.
    """
    if previous is not None and previous.record.version == record.version:
        return previous
    return Sighting(record=record, since=now)


def expired(sighting: Sighting, *, now: float) -> bool:
    """True when the holder has let the Lease run out (or released it)."""
    if not sighting.record.holder:
        return True
    return now >= sighting.since + sighting.record.duration


def decide(*, me: str, sighting: Sighting | None, now: float, may_hold: bool) -> Move:
    """The move for one Lease: `sighting` None means it does not exist yet; `may_hold` False
    means this replica leads as many shards as it may and takes no more."""
    if sighting is None:
        return Move.CREATE if may_hold else Move.WAIT
    if sighting.record.holder == me:
        return Move.RENEW
    if expired(sighting, now=now) and may_hold:
        return Move.TAKE
    return Move.WAIT


def write_deadline(renewed_at: float, timing: Timing) -> float:
    """The monotonic time at which a holder whose last successful renewal was *sent* at
    `renewed_at` stops writing.

    Others may take the Lease no sooner than lease_duration after they saw that renewal,
    which they saw after it was sent: writes stop lease_duration - renew_deadline earlier.
    """
    return renewed_at + timing.renew_deadline


def claim(
    *, me: str, previous: LeaseRecord | None, timing: Timing, now: datetime, notes: str = ""
) -> LeaseRecord:
    """The record that makes `me` the holder (a first acquisition or a renewal)."""
    stamp = micro_time(now)
    if previous is not None and previous.holder == me:
        return LeaseRecord(
            holder=me,
            duration=timing.lease_duration,
            transitions=previous.transitions,
            acquired=previous.acquired or stamp,
            renewed=stamp,
            version=previous.version,
            notes=notes,
        )
    return LeaseRecord(
        holder=me,
        duration=timing.lease_duration,
        transitions=(previous.transitions + 1) if previous is not None else 0,
        acquired=stamp,
        renewed=stamp,
        version=previous.version if previous is not None else "",
        notes=notes,
    )


def release(previous: LeaseRecord, *, now: datetime) -> LeaseRecord:
    """The record a holder writes on shutdown so a standby takes over at its next attempt."""
    return LeaseRecord(
        holder="",
        duration=1,
        transitions=previous.transitions,
        acquired=previous.acquired,
        renewed=micro_time(now),
        version=previous.version,
        notes=previous.notes,
    )


def micro_time(now: datetime) -> str:
    """A Kubernetes MicroTime (RFC 3339 with microseconds, UTC)."""
    return now.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def lease_name(base: str, *, shard: int, shards: int) -> str:
    """The Lease of one shard: `base` alone when there is one shard, else `base-<shard>`."""
    return base if shards == 1 else f"{base}-{shard}"


def shard_of(namespace: str, shards: int) -> int:
    """The shard a namespace belongs to: stable across processes, restarts and Python versions
    (a digest of the name, never Python's per-process randomized hash())."""
    if shards == 1:
        return 0
    digest = hashlib.blake2b(namespace.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % shards
