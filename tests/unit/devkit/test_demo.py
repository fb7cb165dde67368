"""The demo asks before it changes a cluster it did not start, and names its objects its own.

The consent rule is pure (tests/integration/test_demo.py runs the whole command against a real
API server): --yes, or a `y` typed at a terminal; without a terminal nobody can answer.
"""

from __future__ import annotations

import json

import pytest
import yaml

from netiso_devkit.demo import DEMO_PROFILE, Refused, consent, demo_profile, sample_file

WHERE = "context 'prod' (server https://10.0.0.1:6443)"


def never_asked(prompt: str) -> str:
    raise AssertionError(f"asked although it must not: {prompt}")


def test_yes_proceeds_without_asking() -> None:
    consent(yes=True, interactive=False, ask=never_asked, where=WHERE)


def test_without_a_terminal_and_without_yes_the_demo_refuses() -> None:
    with pytest.raises(Refused, match=r"without confirmation: stdin is not a terminal.*--yes"):
        consent(yes=False, interactive=False, ask=never_asked, where=WHERE)


@pytest.mark.parametrize("answer", ["y", "Y", "yes", " yes\n"])
def test_a_yes_at_the_prompt_proceeds(answer: str) -> None:
    prompts: list[str] = []

    def ask(prompt: str) -> str:
        prompts.append(prompt)
        return answer

    consent(yes=False, interactive=True, ask=ask, where=WHERE)
    (prompt,) = prompts
    assert WHERE in prompt
    assert prompt.endswith("[y/N] ")


@pytest.mark.parametrize("answer", ["", "n", "no", "sure", "yess"])
def test_anything_else_at_the_prompt_refuses(answer: str) -> None:
    with pytest.raises(Refused, match=r"not confirmed; context 'prod'"):
        consent(yes=False, interactive=True, ask=lambda prompt: answer, where=WHERE)


def test_the_demo_profile_is_the_baseline_sample_under_its_own_name() -> None:
    profile = json.loads(demo_profile())
    sample = yaml.safe_load(sample_file("baseline").read_text())
    assert profile["metadata"] == {"name": DEMO_PROFILE}
    assert DEMO_PROFILE == "netiso-demo"
    assert profile["spec"]["owner"] == "netiso demo"
    differing = {key for key in sample["spec"] if profile["spec"][key] != sample["spec"][key]}
    assert differing == {"owner", "reason"}
