"""What `netiso explain --probe` concludes from a prediction and an observation, and the probe
container it asks for."""

from __future__ import annotations

import pytest

from netiso.cli.explaining import probe_conclusion
from netiso.runtime.connecting import probe_container


@pytest.mark.parametrize(
    ("allowed", "observed", "says"),
    [
        (True, "connected", "agree"),
        (False, "refused", "agree"),
        (False, "timeout", "agree"),
        (False, "connected", "the network plugin allows what the policies deny"),
        (True, "refused", "nothing listens"),
        (True, "no-answer", "inconclusive"),
        (False, "error", "inconclusive"),
    ],
)
def test_the_conclusion_says_what_the_comparison_means(
    allowed: bool, observed: str, says: str
) -> None:
    assert says in probe_conclusion(allowed=allowed, observed=observed)


def test_the_probe_container_is_restricted_and_connects_to_the_destination() -> None:
    container = probe_container(
        name="netiso-probe-x", image="img", address="10.0.0.7", port=8080, protocol="TCP",
        timeout=2.0,
    )  # fmt: skip
    assert container["args"] == ["connect", "10.0.0.7:8080", "--timeout=2s", "--protocol=tcp"]
    security = container["securityContext"]
    assert security["allowPrivilegeEscalation"] is False
    assert security["runAsNonRoot"] is True
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert security["seccompProfile"] == {"type": "RuntimeDefault"}
    v6 = probe_container(
        name="n", image="i", address="fd00::7", port=53, protocol="UDP", timeout=1.0
    )
    assert v6["args"][1:] == ["[fd00::7]:53", "--timeout=1s", "--protocol=udp"]
