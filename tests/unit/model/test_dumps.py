"""load_dump(): cluster dumps read as the safe loader reads them, with aliases bounded.

Unit tests of the model layer (netiso.model.dumps). The hostile cases are refused within a
memory bound that tracemalloc measures around the call; the time is the benchmark's to print.
"""

from __future__ import annotations

import pytest
import yaml

from netiso.model.documents import DocumentError
from netiso.model.dumps import DumpLimits, load_dump
from tests.unit.model.test_documents import peak_memory

MiB = 1024 * 1024

ORDINARY = """\
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Pod
  metadata: {name: a, namespace: x, labels: {app: "1", on: yes, n: 0x1F}}
  spec:
    containers: [{name: c, ports: [{containerPort: 8080, protocol: TCP}]}]
  status: {podIP: 10.0.0.1, ratio: 1.5, empty: ~, phase: null, exp: 1e3, time: 1:30}
---
---
{"json": [1, 2.5, true, null, "s"]}
"""


def load(text: str, **limits: int) -> list[object]:
    return list(load_dump(text, source="in.yaml", limits=DumpLimits(**limits)))


def test_values_are_what_kubectl_sends() -> None:
    expected = list(yaml.safe_load_all(ORDINARY))
    labels = expected[0]["items"][0]["metadata"]["labels"]
    # `on:` and `n:` are boolean keys, which JSON writes as "true" and "false".
    labels["true"], labels["false"] = labels.pop(True), labels.pop("n")
    status = expected[0]["items"][0]["status"]
    status["exp"], status["time"] = 1000, "1:30"  # no YAML 1.1 strings or sexagesimals
    assert load(ORDINARY) == expected


def test_timestamps_stay_strings_as_the_api_server_reads_them() -> None:
    assert load("created: 2026-01-02T03:04:05Z\nday: 2026-01-02\n") == [
        {"created": "2026-01-02T03:04:05Z", "day": "2026-01-02"}
    ]


def test_merge_keys_give_way_to_own_keys_and_to_earlier_maps() -> None:
    text = "a: &a {x: 1, w: 1}\nb: &b {w: 2, z: 2}\nc: {<<: [*a, *b], x: 0}\n"
    assert load(text)[0] == {
        "a": {"x": 1, "w": 1},
        "b": {"w": 2, "z": 2},
        "c": {"x": 0, "w": 1, "z": 2},
    }


def test_an_alias_is_shared_not_copied() -> None:
    (body,) = load("a: &a [1, 2]\nb: *a\n")
    assert isinstance(body, dict)
    assert body["a"] is body["b"]


def test_documents_are_built_one_at_a_time() -> None:
    documents = load_dump("a: 1\n---\nb: [\n", source="in.yaml")
    assert next(documents) == {"a": 1}  # the broken second document is not read yet
    with pytest.raises(DocumentError, match="invalid YAML"):
        next(documents)


def bomb(levels: int) -> str:
    """Billion laughs through merge keys and sequences: 9**levels nodes, about 49 KB."""
    lines = ["l0: &l0 {a: " + "x" * 40 + "}"]
    for level in range(1, levels + 1):
        aliases = ", ".join([f"*l{level - 1}"] * 9)
        lines.append(f"l{level}: &l{level} {{<<: [{aliases}], s{level}: [{aliases}]}}")
    # Padded to the size of the bomb: a long comment costs the parser nothing.
    return "#" + " lol" * 12_000 + "\n" + "\n".join(lines) + "\n"


@pytest.mark.parametrize("levels", [9, 30])
def test_an_alias_bomb_is_refused_in_bounded_memory(levels: int) -> None:
    text = bomb(levels)
    error, used = peak_memory(lambda: load(text))
    assert isinstance(error, DocumentError), error
    assert "aliases expand to more than 100000 nodes at line" in str(error)
    assert used < 100 * MiB, f"peak {used / MiB:.1f} MiB"


def test_the_alias_limit_is_a_setting() -> None:
    text = "a: &a [1, 2, 3]\nb: [*a, *a]\n"
    assert load(text, max_alias_nodes=8) == [{"a": [1, 2, 3], "b": [[1, 2, 3], [1, 2, 3]]}]
    with pytest.raises(DocumentError, match="aliases expand to more than 7 nodes at line 2"):
        load(text, max_alias_nodes=7)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a: &a {b: *a}\n", 'recursive alias "*a" at line 1, column 11'),
        ("a: *nowhere\n", 'undefined alias "*nowhere" at line 1'),
        ("a: 1\nb: 2\na: 3\n", 'duplicate key "a" at line 3, column 1'),
        ("a: !!binary aGVsbG8=\n", "unsupported tag"),
        ("a: !custom x\n", "unsupported tag"),
        ("a: !!omap [{b: 1}]\n", "unsupported tag"),
        ("[" * 101 + "]" * 101, "nests deeper than 100 levels"),
    ],
)
def test_what_json_cannot_hold_is_one_clean_error(text: str, message: str) -> None:
    with pytest.raises(DocumentError) as caught:
        load(text)
    assert str(caught.value).startswith("in.yaml: ")
    assert message in str(caught.value)


def test_a_lists_items_are_handed_over_one_by_one_and_not_kept() -> None:
    text = "apiVersion: v1\nkind: List\nitems:\n- {a: 1}\n- {b: [2]}\nmetadata: {items: [3]}\n"
    seen: list[object] = []
    (document,) = load_dump(text, source="in.yaml", on_item=seen.append)
    assert seen == [{"a": 1}, {"b": [2]}]
    assert document == {"apiVersion": "v1", "kind": "List", "items": [], "metadata": {"items": [3]}}
