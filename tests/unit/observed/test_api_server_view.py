"""The view keeps the API server's endpoints from the `default/kubernetes` EndpointSlices and
says when they changed: only then are the namespaces with an apiServer allow re-checked."""

from __future__ import annotations

from typing import Any

from netiso.observed.view import ClusterView


def slice_(name: str, *addresses: str, port: int = 6443, **labels: str) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": "default", "labels": labels},
        "ports": [{"name": "https", "port": port, "protocol": "TCP"}],
        "endpoints": [{"addresses": [address]} for address in addresses],
    }


def test_endpoints_are_unknown_until_listed_then_follow_each_event() -> None:
    view = ClusterView()
    assert view.api_server() is None
    assert view.api_slices_listed([slice_("kubernetes", "10.0.0.1")])
    assert view.api_server() is not None
    assert view.api_server().describe() == "10.0.0.1/32 on TCP 6443"  # type: ignore[union-attr]
    assert view.api_slice_seen(slice_("extra", "10.0.0.2"), deleted=False)
    assert view.api_slice_seen(slice_("kubernetes", "10.0.0.1", port=443), deleted=False)
    described = view.api_server().describe()  # type: ignore[union-attr]
    assert described == "10.0.0.1/32 on TCP 443; 10.0.0.2/32 on TCP 6443"
    assert view.api_slice_seen(slice_("extra"), deleted=True)
    assert view.api_server().describe() == "10.0.0.1/32 on TCP 443"  # type: ignore[union-attr]


def test_a_slice_rewritten_with_the_same_endpoints_changes_nothing() -> None:
    view = ClusterView()
    view.api_slices_listed([slice_("kubernetes", "10.0.0.1", "10.0.0.2")])
    assert not view.api_slice_seen(
        slice_("kubernetes", "10.0.0.2", "10.0.0.1", touched="yes"), deleted=False
    )
    assert not view.api_slices_listed([slice_("kubernetes", "10.0.0.1", "10.0.0.2")])
    # The same addresses split over two slices are the same endpoints.
    assert not view.api_slices_listed([slice_("a", "10.0.0.1"), slice_("b", "10.0.0.2")])
