"""The demo's triage without a dataplane: its own sample dump, the demo profile applied, a
blocked and an allowed connection explained and the matrix, as a newcomer sees them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from netiso_devkit.demo import DEMO_NAMESPACE, demo_profile
from netiso_devkit.triage import TRIAGE_SAMPLE, allow_policies, has_dataplane, offline_triage


def test_without_a_node_the_demo_explains_its_own_sample(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    profile = tmp_path / "netiso-demo.json"
    profile.write_text(demo_profile())
    said: list[str] = []
    offline_triage(namespace=DEMO_NAMESPACE, profile_file=profile, say=said.append)
    out = capsys.readouterr().out.splitlines()
    assert said[0] == f"no node to run pods on: reading the sample dump {TRIAGE_SAMPLE} instead"
    assert (
        "DENIED: netiso-demo/client[Deployment] -> netiso-demo/web[Deployment] on 9090/TCP" in out
    )
    assert "diagnosis: port or protocol mismatch" in out
    assert (
        "ALLOWED: netiso-demo/client[Deployment] -> netiso-demo/web[Deployment] on 8080/TCP" in out
    )
    # The profile's policies are there: the demo shows netiso's isolation, not the sample's alone.
    assert any("netiso-demo/netiso-default-deny" in line for line in out)
    assert "g1    g2  TCP 8080" in out
    assert [line for line in out if line.startswith("(exit status")] == [
        "(exit status 1)",
        "(exit status 0)",
        "(exit status 0)",
    ]


def test_the_shipped_policies_are_the_ones_the_live_demo_applies() -> None:
    names = [policy["metadata"]["name"] for policy in allow_policies()]
    assert names == ["client-to-web", "client-egress"]


@pytest.mark.parametrize(
    ("nodes", "expected"),
    [
        ({"items": []}, False),
        ({"items": [{"status": {"conditions": [{"type": "Ready", "status": "False"}]}}]}, False),
        ({"items": [{"status": {"conditions": [{"type": "Ready", "status": "True"}]}}]}, True),
    ],
)
def test_a_dataplane_is_a_ready_node(nodes: dict[str, object], expected: bool) -> None:
    assert has_dataplane(json.dumps(nodes)) is expected
