"""network_policy_problems(): NetworkPolicies refused where the API server refuses them.

Unit tests of the model layer (netiso.model.networkpolicies) over the shared corpus that
tests/integration/test_check_agreement.py sends to the real API server.
"""

from __future__ import annotations

import pytest

from netiso.model.networkpolicies import network_policy_problems
from tests.unit.model.networkpolicy_cases import ACCEPTED, REFUSED, PolicyCase


@pytest.mark.parametrize("case", REFUSED, ids=lambda case: case.name)
def test_what_the_api_server_refuses_is_refused_at_its_field(case: PolicyCase) -> None:
    problems = network_policy_problems(case.body)
    assert case.refused_at in [problem.path for problem in problems], problems


@pytest.mark.parametrize("case", ACCEPTED, ids=lambda case: case.name)
def test_what_the_api_server_accepts_is_accepted(case: PolicyCase) -> None:
    assert network_policy_problems(case.body) == []
