"""The operator's in-memory view of watched objects, fed by one startup listing and by events.

Cluster layer, pure (no I/O). `ClusterView` holds opted-in namespaces, profiles, managed
policies and (reduced) foreign policies with the secondary indexes the reconciler needs;
`VersionedStore` is its storage, the classic informer merge: every entry remembers the
resourceVersion it came from, so a listing taken before some watch events never overwrites
newer data, and a deletion seen during the listing is not brought back by it (a tombstone
holds it until the listing has been merged).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from typing import Any, Generic, Protocol, TypeVar

from netiso import conventions
from netiso.model.apiendpoints import ApiServerEndpoints, api_server_endpoints
from netiso.model.namespaces import NamespaceFacts
from netiso.observed.dependents import changed_keys
from netiso.observed.drifts import LivePolicy
from netiso.observed.entries import NamespaceEntry, ProfileEntry
from netiso.observed.foreign import ForeignPolicy

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


class Sources(Protocol):
    """Read-only views of the watched objects; ClusterView in the operator."""

    def namespace(self, name: str) -> NamespaceEntry | None: ...
    def profile(self, name: str) -> ProfileEntry | None: ...
    def live_policies(self, namespace: str) -> Sequence[LivePolicy]: ...
    def foreign_policies(self, namespace: str) -> Sequence[ForeignPolicy]: ...
    def namespaces_of(self, profile: str) -> Collection[str]: ...
    def all_namespaces(self) -> Collection[str]: ...
    def api_server(self) -> ApiServerEndpoints | None: ...


class ClusterView:
    """The operator's picture of the cluster: opted-in namespaces, profiles, every policy.

    Policies wearing netiso's managed-by label are `LivePolicy` summaries (drift, ownership);
    every other one is a `ForeignPolicy` (guardrails). A policy whose label is added or
    removed moves from one store to the other.

    Implements `Sources`. Fed by the watch events the handlers receive and, once at startup,
    by a listing of each kind (`merge_listing`), merged by resourceVersion. Kopf's own indexes
    are not used: Kopf holds every object's first event until all indexed objects are indexed,
    and that wait grows with the square of the object count (151 s to start with 1,000
    namespaces and their 4,000 policies).
    """

    def __init__(self) -> None:
        self._namespaces: VersionedStore[str, NamespaceEntry] = VersionedStore()
        self._profiles: VersionedStore[str, ProfileEntry] = VersionedStore()
        self._policies: VersionedStore[tuple[str, str], LivePolicy] = VersionedStore()
        self._by_profile: dict[str, set[str]] = {}
        self._by_namespace: dict[str, dict[str, LivePolicy]] = {}
        self._foreign: VersionedStore[tuple[str, str], ForeignPolicy] = VersionedStore()
        self._foreign_by_namespace: dict[str, dict[str, ForeignPolicy]] = {}
        # The labels of every namespace, opted in or not: what "every namespace" means when a
        # guardrail judges a namespaceSelector (reachability/exposures.py).
        self._labels: VersionedStore[str, Mapping[str, str]] = VersionedStore()
        # The `default/kubernetes` EndpointSlices by name (a handful), and their endpoints;
        # None until listed (or when they cannot be read).
        self._api_slices: dict[str, Mapping[str, Any]] = {}
        self._api_server: ApiServerEndpoints | None = None

    # Sources
    def namespace(self, name: str) -> NamespaceEntry | None:
        return self._namespaces.get(name)

    def profile(self, name: str) -> ProfileEntry | None:
        return self._profiles.get(name)

    def live_policies(self, namespace: str) -> Sequence[LivePolicy]:
        return list(self._by_namespace.get(namespace, {}).values())

    def foreign_policies(self, namespace: str) -> Sequence[ForeignPolicy]:
        return list(self._foreign_by_namespace.get(namespace, {}).values())

    def namespaces_of(self, profile: str) -> Collection[str]:
        return list(self._by_profile.get(profile, ()))

    def all_namespaces(self) -> Collection[str]:
        return set(self._namespaces.keys()) | set(self._by_namespace)

    def api_server(self) -> ApiServerEndpoints | None:
        """The API server's endpoints; None when its EndpointSlices are not known."""
        return self._api_server

    def profile_names(self) -> Collection[str]:
        return list(self._profiles.keys())

    def namespace_names(self) -> Collection[str]:
        """Every opted-in namespace in the view."""
        return list(self._namespaces.keys())

    def policy_keys(self) -> Collection[tuple[str, str]]:
        """(namespace, name) of every policy in the view, managed or foreign."""
        return [*self._policies.keys(), *self._foreign.keys()]

    def namespace_labels(self) -> Iterator[Mapping[str, str]]:
        """The labels of every namespace in the cluster, opted in or not."""
        return self._labels.values()

    def labelled_names(self) -> Collection[str]:
        """Every namespace in the label inventory."""
        return list(self._labels.keys())

    def is_managed_key(self, namespace: str, name: str) -> bool:
        """Whether the view holds (namespace, name) as a managed policy."""
        return (namespace, name) in self._policies

    # feeding
    def namespace_seen(self, body: Mapping[str, Any], *, deleted: bool) -> NamespaceEntry:
        """Apply a Namespace watch event."""
        entry = NamespaceEntry.from_body(body)
        name = entry.facts.name
        old = self._namespaces.observe(name, resource_version(body), None if deleted else entry)
        if old is not None:
            self._unlink(self._by_profile, old.profile_name, name)
        if not deleted:
            self._by_profile.setdefault(entry.profile_name, set()).add(name)
        return entry

    def labels_seen(self, body: Mapping[str, Any], *, deleted: bool) -> frozenset[str]:
        """Apply a watch event of any namespace to the label inventory; the label keys whose
        value it changed (all of them when the namespace comes or goes)."""
        labels = namespace_labels_of(body)
        name = labels[conventions.NAMESPACE_NAME_LABEL]
        old = self._labels.observe(name, resource_version(body), None if deleted else labels)
        return changed_keys(old, None if deleted else labels)

    def policy_seen(
        self, body: Mapping[str, Any], *, deleted: bool, known: LivePolicy | None = None
    ) -> LivePolicy:
        """Apply a managed NetworkPolicy watch event.

        `known` is a summary of this very object version if the caller has one (the answer to
        netiso's own write): then the content hash is not computed a second time.
        """
        metadata = body.get("metadata") or {}
        same = (
            known is not None
            and bool(known.uid)
            and known.uid == metadata.get("uid")
            and known.resource_version == metadata.get("resourceVersion")
        )
        live = known if same and known is not None else LivePolicy.from_body(body)
        version = resource_version(body)
        self._policies.observe((live.namespace, live.name), version, None if deleted else live)
        self._forget_foreign(live.namespace, live.name, version)
        if deleted:
            policies = self._by_namespace.get(live.namespace)
            if policies is not None:
                policies.pop(live.name, None)
                if not policies:
                    del self._by_namespace[live.namespace]
        else:
            self._by_namespace.setdefault(live.namespace, {})[live.name] = live
        return live

    def foreign_seen(self, body: Mapping[str, Any], *, deleted: bool) -> tuple[ForeignPolicy, bool]:
        """Apply a watch event of a policy without netiso's label; True when it was a managed
        policy until now (its label was removed, or this is the deletion of one)."""
        foreign = ForeignPolicy.from_body(body)
        namespace, name = foreign.namespace, foreign.name
        version = resource_version(body)
        was_managed = (namespace, name) in self._policies
        # Also before the listing is merged: the tombstone keeps an older listing's managed
        # copy of this policy out.
        self._policies.observe((namespace, name), version, None)
        managed = self._by_namespace.get(namespace)
        if managed is not None:
            managed.pop(name, None)
            if not managed:
                del self._by_namespace[namespace]
        self._foreign.observe((namespace, name), version, None if deleted else foreign)
        if deleted:
            self._unindex_foreign(namespace, name)
        else:
            self._foreign_by_namespace.setdefault(namespace, {})[name] = foreign
        return foreign, was_managed

    def _forget_foreign(self, namespace: str, name: str, version: str) -> None:
        # Also before the listing is merged: the tombstone keeps an older foreign copy out.
        self._foreign.observe((namespace, name), version, None)
        self._unindex_foreign(namespace, name)

    def _unindex_foreign(self, namespace: str, name: str) -> None:
        policies = self._foreign_by_namespace.get(namespace)
        if policies is not None:
            policies.pop(name, None)
            if not policies:
                del self._foreign_by_namespace[namespace]

    def api_slice_seen(self, body: Mapping[str, Any], *, deleted: bool) -> bool:
        """Apply a `default/kubernetes` EndpointSlice watch event; True when the endpoints
        changed (a slice rewritten with the same addresses and ports changes nothing)."""
        name = str((body.get("metadata") or {}).get("name", ""))
        if deleted:
            self._api_slices.pop(name, None)
        else:
            self._api_slices[name] = _endpoints_of(body)
        return self._api_slices_changed()

    def api_slices_listed(self, items: Iterable[Mapping[str, Any]]) -> bool:
        """Replace every `default/kubernetes` EndpointSlice (a listing); True on a change."""
        self._api_slices = {
            str((body.get("metadata") or {}).get("name", "")): _endpoints_of(body) for body in items
        }
        return self._api_slices_changed()

    def _api_slices_changed(self) -> bool:
        endpoints = api_server_endpoints(self._api_slices.values())
        changed = endpoints != self._api_server
        self._api_server = endpoints
        return changed

    def profile_seen(self, body: Mapping[str, Any], *, deleted: bool) -> ProfileEntry:
        """Apply an IsolationProfile watch event."""
        entry = ProfileEntry.from_body(body)
        self._profiles.observe(entry.name, resource_version(body), None if deleted else entry)
        return entry

    def merge_listing(
        self,
        *,
        namespaces: Iterable[tuple[str, NamespaceEntry]],
        policies: Iterable[tuple[str, LivePolicy]],
        profiles: Iterable[tuple[str, ProfileEntry]],
        foreign: Iterable[tuple[str, ForeignPolicy]] = (),
        labels: Iterable[tuple[str, Mapping[str, str]]] = (),
    ) -> None:
        """Merge the startup listings, as (resourceVersion, summary) pairs, then rebuild the
        secondary indexes once."""
        self._labels.merge_listing(
            (found[conventions.NAMESPACE_NAME_LABEL], rv, found) for rv, found in labels
        )
        self._namespaces.merge_listing((e.facts.name, rv, e) for rv, e in namespaces)
        self._profiles.merge_listing((e.name, rv, e) for rv, e in profiles)
        self._policies.merge_listing(((p.namespace, p.name), rv, p) for rv, p in policies)
        self._foreign.merge_listing(((p.namespace, p.name), rv, p) for rv, p in foreign)
        self._by_profile = {}
        for entry in self._namespaces.values():
            self._by_profile.setdefault(entry.profile_name, set()).add(entry.facts.name)
        self._by_namespace = {}
        for live in self._policies.values():
            self._by_namespace.setdefault(live.namespace, {})[live.name] = live
        self._foreign_by_namespace = {}
        for policy in self._foreign.values():
            if (policy.namespace, policy.name) not in self._policies:
                self._foreign_by_namespace.setdefault(policy.namespace, {})[policy.name] = policy

    @staticmethod
    def _unlink(index: dict[str, set[str]], key: str, value: str) -> None:
        members = index.get(key)
        if members is not None:
            members.discard(value)
            if not members:
                del index[key]


def namespace_labels_of(body: Mapping[str, Any]) -> Mapping[str, str]:
    """A Namespace's labels, with the name label the API server always sets."""
    metadata = body.get("metadata") or {}
    raw = metadata.get("labels") or {}
    labels = {str(key): str(value) for key, value in raw.items()}
    return NamespaceFacts(name=str(metadata.get("name", "")), labels=labels).labels


def _endpoints_of(body: Mapping[str, Any]) -> Mapping[str, Any]:
    """What the view keeps of an EndpointSlice: its ports and endpoints, nothing else."""
    return {"ports": body.get("ports"), "endpoints": body.get("endpoints")}


def resource_version(body: Mapping[str, Any]) -> str:
    """The object's metadata.resourceVersion ("" when absent)."""
    return str((body.get("metadata") or {}).get("resourceVersion", ""))
