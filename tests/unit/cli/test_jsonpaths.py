"""kubectl's JSONPath templates (`-o jsonpath=...`) over the data a command prints as JSON:
the examples of kubectl's documentation, and a clear error for an unreadable template."""

from __future__ import annotations

from typing import Any

import pytest

from netiso.cli.jsonpaths import JsonPathError, render

DATA: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "List",
    "items": [
        {"namespace": "shop", "state": "isolated", "pendingChanges": 0, "tags": ["a", "b"]},
        {"namespace": "pay", "state": "drifted", "pendingChanges": 2, "tags": []},
        {"namespace": "web", "state": "drifted", "pendingChanges": 1, "extra": {"x": True}},
    ],
}


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{.kind}", "List"),
        (".kind", "List"),
        ("{$.kind}", "List"),
        ("{.items[*].namespace}", "shop pay web"),
        ("{.items[0].namespace}", "shop"),
        ("{.items[-1].namespace}", "web"),
        ("{.items[0:2].namespace}", "shop pay"),
        ("{.items[1:].pendingChanges}", "2 1"),
        ("{.items[0]['namespace']}", "shop"),
        ('{.items[?(@.state=="drifted")].namespace}', "pay web"),
        ("{.items[?(@.state!='drifted')].namespace}", "shop"),
        ("{.items[?(@.pendingChanges>1)].namespace}", "pay"),
        ("{.items[?(@.extra)].namespace}", "web"),
        ("{..namespace}", "shop pay web"),
        ("{.items[0].tags}", '["a", "b"]'),
        ("{.items[2].extra.x}", "true"),
        ("{.items[2].extra.*}", "true"),
        (
            '{range .items[*]}{.namespace}{"\\t"}{.state}{"\\n"}{end}',
            "shop\tisolated\npay\tdrifted\nweb\tdrifted\n",
        ),
        ("{range .items[*]}[{.namespace}]{end}", "[shop][pay][web]"),
        ("n={.missing} {.items[7].namespace}.", "n= ."),
        ('{.items[?(@.state=="}")].namespace}', ""),
    ],
)
def test_templates_print_what_kubectl_prints(template: str, expected: str) -> None:
    assert render(template, DATA) == expected


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{.items[", "unclosed { at character 1"),
        ("{.items[*}", "unclosed [ in"),
        ("{range .items[*]}{.namespace}", "{range} without an {end}"),
        ("{.kind}{end}", "{end} without a {range}"),
        ("{.items[?(@.n>)]}", "cannot read the filter"),
        ("{.items[x]}", "expected a number"),
        ("{'unterminated}", "unclosed { at character 1"),
    ],
)
def test_an_unreadable_template_says_where(template: str, message: str) -> None:
    with pytest.raises(JsonPathError) as raised:
        render(template, DATA)
    assert message in str(raised.value)
