"""The view's store: a startup listing never overrides newer watch events."""

from __future__ import annotations

from netiso.observed.drifts import LivePolicy
from netiso.observed.view import ClusterView, VersionedStore, version_number


def test_listing_fills_an_empty_store() -> None:
    store: VersionedStore[str, str] = VersionedStore()
    store.merge_listing([("a", "5", "a@5"), ("b", "6", "b@6")])
    assert sorted(store.values()) == ["a@5", "b@6"]


def test_newer_event_wins_over_an_older_listing() -> None:
    store: VersionedStore[str, str] = VersionedStore()
    store.observe("a", "9", "a@9")
    store.merge_listing([("a", "5", "a@5")])
    assert store.get("a") == "a@9"


def test_newer_listing_wins_over_an_older_event() -> None:
    store: VersionedStore[str, str] = VersionedStore()
    store.observe("a", "3", "a@3")
    store.merge_listing([("a", "5", "a@5")])
    assert store.get("a") == "a@5"


def test_deletion_seen_before_the_listing_is_not_resurrected() -> None:
    store: VersionedStore[str, str] = VersionedStore()
    store.observe("a", "9", None)
    store.merge_listing([("a", "5", "a@5")])
    assert store.get("a") is None
    assert "a" not in store


def test_object_recreated_after_the_deletion_is_kept() -> None:
    store: VersionedStore[str, str] = VersionedStore()
    store.observe("a", "4", None)
    store.merge_listing([("a", "7", "a@7")])
    assert store.get("a") == "a@7"


def test_after_the_listing_events_alone_decide() -> None:
    store: VersionedStore[str, str] = VersionedStore()
    store.merge_listing([("a", "5", "a@5")])
    assert store.observe("a", "6", None) == "a@5"
    assert store.get("a") is None
    assert store.observe("a", "2", "a@2") is None
    assert store.get("a") == "a@2"


def test_non_numeric_versions_let_events_win() -> None:
    assert version_number("abc") is None
    store: VersionedStore[str, str] = VersionedStore()
    store.observe("a", "x", "event")
    store.merge_listing([("a", "y", "listing"), ("b", "z", "listed")])
    assert store.get("a") == "event"
    assert store.get("b") == "listed"


def test_an_echo_of_netisos_own_write_reuses_its_summary() -> None:
    body = {
        "metadata": {
            "namespace": "team-a",
            "name": "netiso-default-deny",
            "uid": "u1",
            "resourceVersion": "7",
            "labels": {"app.kubernetes.io/managed-by": "netiso"},
        },
        "spec": {"podSelector": {}, "policyTypes": ["Ingress"]},
    }
    written = LivePolicy.from_body(body)
    view = ClusterView()
    assert view.policy_seen(body, deleted=False, known=written) is written
    # A later version of the object (someone edited it) is summarised afresh.
    edited = {**body, "metadata": {**body["metadata"], "resourceVersion": "8"}}
    fresh = view.policy_seen(edited, deleted=False, known=written)
    assert fresh is not written
    assert fresh.resource_version == "8"
