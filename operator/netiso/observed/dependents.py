"""Which opted-in namespaces a change of namespace labels may concern: an index, pure.

Observed layer, no I/O. A namespace's guardrail findings depend on other namespaces' labels
only through the keys of its owners' namespaceSelectors that may admit every namespace
(reachability/exposures.inventory_keys); a relabelled namespace, opted in or not, re-checks
only the namespaces that depend on one of the keys it changed, never all of them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping


class LabelDependents:
    """Label key -> the namespaces whose findings depend on it."""

    def __init__(self) -> None:
        self._keys: dict[str, frozenset[str]] = {}
        self._by_key: dict[str, set[str]] = {}

    def note(self, namespace: str, keys: frozenset[str]) -> None:
        """Record the keys a namespace depends on now (empty: none; forgets the old ones)."""
        old = self._keys.get(namespace, frozenset())
        if old == keys:
            return
        for key in old - keys:
            members = self._by_key.get(key)
            if members is not None:
                members.discard(namespace)
                if not members:
                    del self._by_key[key]
        for key in keys - old:
            self._by_key.setdefault(key, set()).add(namespace)
        if keys:
            self._keys[namespace] = keys
        else:
            self._keys.pop(namespace, None)

    def affected(self, keys: Iterable[str]) -> set[str]:
        """The namespaces that depend on any of the keys."""
        found: set[str] = set()
        for key in keys:
            found.update(self._by_key.get(key, ()))
        return found

    def __len__(self) -> int:
        return len(self._keys)


def changed_keys(old: Mapping[str, str] | None, new: Mapping[str, str] | None) -> frozenset[str]:
    """The label keys whose value differs (every key when a namespace comes or goes)."""
    before, after = old or {}, new or {}
    return frozenset(
        key for key in before.keys() | after.keys() if before.get(key) != after.get(key)
    )
