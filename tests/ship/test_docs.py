"""The docs stay true to the contract, the CRD, the settings and the RBAC they describe.

Checks that docs/metrics.md documents every contract metric and no other, that PromQL examples
use only contract metrics, that docs/profile-reference.md lists every CRD field with its
default and allowed values, that install.md's settings and permission tables match
settings.py and the contract, and that every relative link and anchor resolves.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from .contract import (
    API_CALLS,
    LEASE_CALLS,
    METRICS,
    UP,
    contract_violations,
    exposed_series,
)
from .test_alerts import github_anchor

DOCS = (
    "install.md",
    "profile-reference.md",
    "opt-in.md",
    "rollout.md",
    "drift.md",
    "guardrails.md",
    "metrics.md",
    "runbook.md",
    "troubleshooting.md",
    "limits.md",
)
CRD = "crds/isolationprofiles.netiso.io.yaml"

Schema = dict[str, Any]


def read(repo: Path, name: str) -> str:
    return (repo / "docs" / name).read_text()


def anchors(markdown: str) -> set[str]:
    return {
        github_anchor(line.lstrip("#"))
        for line in markdown.splitlines()
        if re.match(r"^#{1,6} ", line)
    }


def table_rows(markdown: str) -> Iterator[list[str]]:
    """Cells of every Markdown table row, split on unescaped pipes."""
    for line in markdown.splitlines():
        if line.startswith("|") and not re.match(r"^\|\s*-", line):
            yield [cell.strip() for cell in re.split(r"(?<!\\)\|", line.strip())[1:-1]]


@pytest.mark.parametrize("name", DOCS)
def test_doc_exists_and_is_not_empty(repo: Path, name: str) -> None:
    text = read(repo, name)
    assert text.startswith("# ")
    assert len(text) > 500


def test_metrics_doc_has_a_section_per_contract_metric(repo: Path) -> None:
    text = read(repo, "metrics.md")
    sections = set(re.findall(r"^### `(netiso_\w+)`$", text, flags=re.MULTILINE))
    assert sections == set(METRICS)


def test_docs_name_no_metric_outside_the_contract(repo: Path) -> None:
    known = set(exposed_series()) | set(METRICS)
    for name in DOCS:
        named = set(re.findall(r"\bnetiso_[a-z_]+\b", read(repo, name)))
        assert named <= known, f"{name}: {sorted(named - known)}"


def test_promql_examples_use_only_contract_metrics(repo: Path) -> None:
    allowed = {**exposed_series(), UP.name: UP}
    blocks = 0
    for name in DOCS:
        for block in re.findall(r"```promql\n(.*?)```", read(repo, name), flags=re.DOTALL):
            blocks += 1
            assert contract_violations(block, allowed=allowed) == [], f"{name}: {block}"
    assert blocks >= 5


def test_relative_links_and_anchors_resolve(repo: Path) -> None:
    docs = repo / "docs"
    for path in sorted(docs.glob("*.md")):
        text = path.read_text()
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"^[a-z]+:", target):
                continue
            file_part, _, anchor = target.partition("#")
            linked = (docs / file_part) if file_part else path
            assert linked.exists(), f"{path.name}: broken link {target}"
            if anchor:
                assert anchor in anchors(linked.read_text()), f"{path.name}: no #{anchor}"


def spec_fields(schema: Schema, prefix: str = "") -> Iterator[tuple[str, Schema]]:
    """Dotted paths of every field under `schema`; label selectors count as one field."""
    for name, field in schema.get("properties", {}).items():
        path = f"{prefix}{name}"
        yield path, field
        if set(field.get("properties", {})) == {"matchLabels", "matchExpressions"}:
            continue
        if field.get("type") == "object":
            yield from spec_fields(field, f"{path}.")
        items = field.get("items", {})
        if field.get("type") == "array" and items.get("type") == "object":
            yield from spec_fields(items, f"{path}[].")


def crd_spec(repo: Path) -> Schema:
    crd = next(doc for doc in yaml.safe_load_all((repo / CRD).read_text()) if doc)
    (version,) = [v for v in crd["spec"]["versions"] if v["name"] == "v1alpha1"]
    spec: Schema = version["schema"]["openAPIV3Schema"]["properties"]["spec"]
    return spec


def documented_default(value: Any) -> str:
    """How a CRD default must appear in the Default column (empty: any non-'none' text)."""
    if isinstance(value, bool):
        return "`true`" if value else "`false`"
    if value == "":
        return '`""`'
    if value == {}:
        return "`{}`"
    if isinstance(value, dict | list):
        return ""
    return f"`{value}`"


def test_profile_reference_lists_every_crd_field_with_default_and_values(repo: Path) -> None:
    rows = {
        row[0].strip("`"): row
        for row in table_rows(read(repo, "profile-reference.md"))
        if len(row) == 4 and row[0].startswith("`")
    }
    fields = dict(spec_fields(crd_spec(repo)))
    assert fields, "the CRD has no spec fields"
    assert set(fields) <= set(rows), f"undocumented: {sorted(set(fields) - set(rows))}"
    for path, field in fields.items():
        _, kind, default, description = rows[path]
        assert description, path
        for value in field.get("enum", []):
            assert f"`{value}`" in kind, f"{path}: allowed value {value} not documented"
        if "default" in field:
            expected = documented_default(field["default"])
            assert expected in default, f"{path}: default should read {expected}"
            assert not default.startswith("none"), path
        else:
            assert default.startswith("none"), f"{path} has no default, doc says {default}"


def test_profile_reference_documents_no_field_the_crd_lacks(repo: Path) -> None:
    fields = set(dict(spec_fields(crd_spec(repo))))
    text = read(repo, "profile-reference.md")
    spec_section = text[text.index("## Fields") : text.index("### Ports")]
    for row in table_rows(spec_section):
        if row[0].startswith("`"):
            assert row[0].strip("`") in fields, f"{row[0]} is not in the CRD"


def test_install_settings_table_lists_every_environment_variable(repo: Path) -> None:
    settings = (repo / "operator" / "netiso" / "settings.py").read_text()
    variables = set(re.findall(r'"(NETISO_[A-Z_]+|POD_NAMESPACE)"', settings))
    assert variables
    documented = {
        name
        for row in table_rows(read(repo, "install.md"))
        for name in re.findall(r"`((?:NETISO_|POD_)[A-Z_]+)`", row[0])
    }
    assert variables <= documented, f"undocumented: {sorted(variables - documented)}"


def test_install_permissions_table_matches_the_rbac_contract(repo: Path) -> None:
    granted: dict[tuple[str, str], frozenset[str]] = {}
    for row in table_rows(read(repo, "install.md")):
        if len(row) == 4 and row[1].startswith("`") and row[2][:1].islower():
            group = row[0].strip("`").strip('"')
            resource = row[1].strip("`")
            granted[(group, resource)] = frozenset(v.strip() for v in row[2].split(","))
    assert granted == {**API_CALLS, **LEASE_CALLS}


def test_runbook_uses_the_cli(repo: Path) -> None:
    runbook = read(repo, "runbook.md")
    assert "netiso status" in runbook
    assert "netiso diff --namespace NS" in runbook
