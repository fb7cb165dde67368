"""Event bodies: namespace Events live in the namespace, profile Events in default."""

from __future__ import annotations

from datetime import UTC, datetime

from netiso.reporting.events import WARNING, event_body, namespace_ref, profile_ref

NOW = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)


def test_namespace_event_is_posted_into_the_namespace_itself() -> None:
    body = event_body(
        involved=namespace_ref("team-a", "uid-1"),
        reason="DriftDetected",
        message="netiso-default-deny missing",
        type_=WARNING,
        now=NOW,
    )
    assert body["metadata"]["namespace"] == "team-a"
    assert body["involvedObject"] == {
        "apiVersion": "v1",
        "kind": "Namespace",
        "name": "team-a",
        "uid": "uid-1",
        "namespace": "team-a",
    }
    assert body["type"] == "Warning"
    assert body["source"] == {"component": "netiso"}
    assert body["firstTimestamp"] == "2026-01-01T12:00:00Z"


def test_profile_event_goes_to_default_and_long_messages_are_cut() -> None:
    body = event_body(
        involved=profile_ref("baseline"),
        reason="InvalidSpec",
        message="x" * 5000,
        type_=WARNING,
        now=NOW,
    )
    assert body["metadata"]["namespace"] == "default"
    assert body["involvedObject"]["kind"] == "IsolationProfile"
    assert body["involvedObject"]["apiVersion"] == "netiso.io/v1alpha1"
    assert len(body["message"]) == 1000
