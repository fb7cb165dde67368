"""make_environment() and shipped_templates_dir(): where templates come from and how Jinja runs.

Unit tests of the rendering layer (netiso.rendering.environment).
"""

from __future__ import annotations

from pathlib import Path

import jinja2
import jinja2.sandbox
import pytest

from netiso.model.planning import ROLES, template_name
from netiso.rendering.environment import make_environment, shipped_templates_dir

REPO = Path(__file__).resolve().parents[3]


def test_a_source_checkout_uses_the_repository_templates() -> None:
    assert shipped_templates_dir() == REPO / "templates"


def test_every_role_has_a_shipped_template_and_nothing_else_is_shipped() -> None:
    shipped = {path.name for path in shipped_templates_dir().glob("*")}
    assert shipped == {template_name(role) for role in ROLES}


def test_environment_is_strict_and_yaml_friendly() -> None:
    env = make_environment()
    assert env.undefined is jinja2.StrictUndefined
    assert env.trim_blocks
    assert env.lstrip_blocks
    assert not env.autoescape
    with pytest.raises(jinja2.UndefinedError, match="'missing' is undefined"):
        env.from_string("{{ missing }}").render()
    with pytest.raises(jinja2.UndefinedError, match="'missing' is undefined"):
        env.from_string("{{ missing | tojson }}").render()


def test_block_tags_leave_no_blank_lines() -> None:
    env = make_environment()
    text = env.from_string("a:\n  {% if yes %}\n- 1\n  {% endif %}\nb: 2\n").render(yes=True)
    assert text == "a:\n- 1\nb: 2\n"


def test_tojson_writes_json_with_sorted_keys() -> None:
    env = make_environment()
    assert env.from_string("{{ v | tojson }}").render(v={"b": 1, "a": [True, None]}) == (
        '{"a": [true, null], "b": 1}'
    )


def test_making_an_environment_reads_nothing(tmp_path: Path) -> None:
    missing = tmp_path / "not-there"
    env = make_environment(missing)
    with pytest.raises(jinja2.TemplateNotFound):
        env.get_template("default-deny.yaml.j2")


def test_templates_run_in_an_immutable_sandbox() -> None:
    env = make_environment()
    assert isinstance(env, jinja2.sandbox.ImmutableSandboxedEnvironment)
    with pytest.raises(jinja2.exceptions.SecurityError, match="__class__"):
        env.from_string("{{ ''.__class__.__mro__ }}").render()
    with pytest.raises(jinja2.exceptions.SecurityError, match="append"):
        env.from_string("{{ ports.append(1) }}").render(ports=[53])
