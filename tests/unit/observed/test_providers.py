"""What the dependency tracker watches for a profile, and the index of what those watches say:
only the namespaces a profile names, only the kinds its checks read, and a change reported
only when a fact the checks read changed."""

from __future__ import annotations

from typing import Any

import pytest

from netiso.model.parsing import parse_profile
from netiso.observed.providers import Need, Provided, ProviderIndex, needs_of
from tests.unit.hermetic import profile_body

DNS = [Need("kube-system", kind) for kind in Provided]
GATEWAY = {"enabled": True, "namespaces": ["ingress"], "ports": [{"port": 8080}]}
MONITORING = {"enabled": True, "namespaces": ["mon", "ingress"], "ports": [{"port": 9090}]}


@pytest.mark.parametrize(
    ("spec", "needs"),
    [
        ({}, DNS),
        ({"dns": {"namespace": "dns"}}, [Need("dns", kind) for kind in Provided]),
        ({"dns": {"enabled": False}}, []),
        ({"defaultDeny": {"ingress": True, "egress": False}}, []),
        (
            {"gateway": GATEWAY, "monitoring": MONITORING},
            [*DNS, Need("ingress", Provided.PODS), Need("mon", Provided.PODS)],
        ),
        (
            {"gateway": GATEWAY, "defaultDeny": {"ingress": False, "egress": True}},
            DNS,
        ),
    ],
    ids=["default", "dns-elsewhere", "no-dns", "egress-open", "peers", "ingress-open"],
)
def test_a_profile_needs_only_what_its_checks_read(spec: dict[str, Any], needs: list[Need]) -> None:
    assert needs_of(parse_profile(profile_body("p", **spec))) == frozenset(needs)


def pod(name: str, **metadata: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": "kube-system", **metadata},
        "spec": {"containers": [{"ports": [{"containerPort": 53}]}]},
        "status": {"phase": "Running"},
    }


PODS = Need("kube-system", Provided.PODS)


def test_an_unlisted_collection_is_not_known_and_a_listing_makes_it_so() -> None:
    index = ProviderIndex()
    assert not index.listed(PODS)
    assert index.relisted(PODS, [])  # known now, even empty
    assert index.listed(PODS)
    assert not index.relisted(PODS, [])


def test_only_a_change_of_what_the_checks_read_counts() -> None:
    index = ProviderIndex()
    index.relisted(PODS, [pod("dns-0", labels={"k8s-app": "kube-dns"})])
    heartbeat = pod("dns-0", labels={"k8s-app": "kube-dns"}, resourceVersion="9")
    assert not index.seen(PODS, heartbeat, deleted=False)
    assert index.seen(PODS, pod("dns-0", labels={"k8s-app": "coredns"}), deleted=False)
    assert index.seen(PODS, pod("dns-1"), deleted=False)
    assert index.seen(PODS, pod("dns-1"), deleted=True)
    assert not index.seen(PODS, pod("dns-1"), deleted=True)
    assert [p.labels for p in index.facts([PODS]).pods] == [{"k8s-app": "coredns"}]


def test_facts_come_only_from_the_needs_asked_and_forgotten_needs_hold_nothing() -> None:
    index = ProviderIndex()
    other = Need("ingress", Provided.PODS)
    index.relisted(PODS, [pod("dns-0")])
    index.relisted(
        other, [{**pod("nginx-0"), "metadata": {"name": "nginx-0", "namespace": "ingress"}}]
    )
    assert [p.name for p in index.facts([PODS]).pods] == ["dns-0"]
    assert index.size() == 2
    index.forget(other)
    assert not index.listed(other)
    assert index.facts([other]).pods == ()
