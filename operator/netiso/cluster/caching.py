"""An in-memory view of watched objects, fed by one startup listing and by watch events.

Cluster layer, pure (no I/O). The classic informer merge: every entry remembers the
resourceVersion it came from, so a listing taken before some watch events never overwrites
newer data, and a deletion seen during the listing is not brought back by it (a tombstone
holds it until the listing has been merged).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


def version_number(resource_version: str) -> int | None:
    """The resourceVersion as a number, or None when the server's is not numeric.

    Kubernetes calls resourceVersions opaque; with etcd they are revisions and ordered. When
    they are not numbers, watch events simply win over the listing.
    """
    try:
        return int(resource_version)
    except (TypeError, ValueError):
        return None


class VersionedStore(Generic[K, V]):
    """Key -> value with the resourceVersion each value came from."""

    def __init__(self) -> None:
        self._items: dict[K, tuple[int | None, V]] = {}
        self._tombstones: dict[K, int | None] = {}
        self._listing_merged = False

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def get(self, key: K) -> V | None:
        """The current value, or None."""
        entry = self._items.get(key)
        return entry[1] if entry is not None else None

    def keys(self) -> Iterator[K]:
        """Every key with a value."""
        return iter(self._items)

    def values(self) -> Iterator[V]:
        """Every value."""
        return (value for _, value in self._items.values())

    def observe(self, key: K, resource_version: str, value: V | None) -> V | None:
        """Apply a watch event (None for a deletion); returns the value it replaced."""
        version = version_number(resource_version)
        old = self._items.get(key)
        if value is None:
            self._items.pop(key, None)
            if not self._listing_merged:
                self._tombstones[key] = version
        else:
            self._items[key] = (version, value)
            self._tombstones.pop(key, None)
        return old[1] if old is not None else None

    def merge_listing(self, items: Iterable[tuple[K, str, V]]) -> None:
        """Merge the startup listing: only what no watch event has superseded.

        After this the store relies on events alone, and tombstones are dropped.
        """
        for key, resource_version, value in items:
            version = version_number(resource_version)
            if key in self._tombstones:
                gone = self._tombstones[key]
                if gone is None or version is None or gone >= version:
                    continue
            current = self._items.get(key)
            if current is not None:
                have = current[0]
                if have is None or version is None or have >= version:
                    continue
            self._items[key] = (version, value)
        self._tombstones.clear()
        self._listing_merged = True
