"""load_documents(): untrusted YAML/JSON in, plain values or one clean DocumentError out.

Unit tests of the model layer (netiso.model.documents). The hostile inputs are checked in under
tests/golden/hostile/ (large ones are generated here); each must be refused quickly and within a
memory bound, which tracemalloc measures around the call.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from netiso.model.documents import (
    DEFAULT_LIMITS,
    DocumentError,
    DocumentLimits,
    clipped,
    load_documents,
)

REPO = Path(__file__).resolve().parents[3]
HOSTILE = REPO / "tests" / "golden" / "hostile"
MiB = 1024 * 1024
MEMORY_BOUND = 100 * MiB


def peak_memory(call: Callable[[], Any]) -> tuple[Any, int]:
    """Run `call`; its result (or the exception it raised) and the peak of Python allocations."""
    tracemalloc.start()
    try:
        try:
            result: Any = call()
        except Exception as error:
            result = error
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def refused(text: str) -> DocumentError:
    """Load text expecting a DocumentError, asserting the memory bound on the way."""
    error, peak = peak_memory(lambda: load_documents(text, source="in.yaml"))
    assert isinstance(error, DocumentError), error
    assert peak < MEMORY_BOUND, f"peak {peak / MiB:.1f} MiB"
    return error


# --- what loads ------------------------------------------------------------------------------


def test_every_document_loads_in_order_with_empty_ones_as_none() -> None:
    text = "a: 1\n---\n---\n- x\n- {b: [true, null, 1.5]}\n"
    assert load_documents(text, source="f") == [{"a": 1}, None, ["x", {"b": [True, None, 1.5]}]]


def test_json_is_yaml() -> None:
    assert load_documents('{"kind": "List", "items": []}', source="f") == [
        {"kind": "List", "items": []}
    ]


def test_timestamps_stay_strings_as_the_api_server_reads_them() -> None:
    assert load_documents("since: 2026-11-29\nat: 2026-11-29T04:00:00Z\n", source="f") == [
        {"since": "2026-11-29", "at": "2026-11-29T04:00:00Z"}
    ]


def test_aliases_and_merge_keys_within_the_limits_still_work() -> None:
    text = "base: &b {x: 1, z: 2}\nother:\n  <<: *b\n  z: 3\nlist: [*b, *b]\n"
    (document,) = load_documents(text, source="f")
    assert document["other"] == {"x": 1, "z": 3}
    assert document["list"] == [{"x": 1, "z": 2}, {"x": 1, "z": 2}]


@pytest.mark.parametrize(
    ("plain", "value"),
    [
        ("1:30", "1:30"),  # YAML 1.1 sexagesimal (PyYAML: 90); kubectl sends the string
        ("1e400", "1e400"),  # too large for a float64: go-yaml keeps the text
        ("1e3", 1000),  # a number to kubectl (PyYAML: a string), integral in JSON
        ("80.0", 80),
        ("1.5", 1.5),
        ("0o17", 15),
        ("017", 15),
        ("08", 8),
        ("0x1F", 31),
        ("-0b11", -3),
        ("1_000", 1000),
        ("y", True),
        ("N", False),
        ("off", False),
        ("~", None),
        ("2026-01-02", "2026-01-02"),
        ("http", "http"),
    ],
)
def test_plain_scalars_are_typed_as_kubectl_types_them(plain: str, value: object) -> None:
    assert load_documents(f"port: {plain}\n", source="f") == [{"port": value}]
    assert load_documents(f"'{plain}': x\n", source="f") == [{plain: "x"}]


def test_keys_are_strings_as_in_json() -> None:
    assert load_documents("y: 1\n2: 2\n~: 3\n", source="f") == [{"true": 1, "2": 2, "null": 3}]
    error = refused("true: 1\n'true': 2\n")
    assert 'duplicate key "true" at line 2' in str(error)


def test_what_json_cannot_carry_is_refused() -> None:
    assert "inf cannot be written as JSON at line 1, column 7" in str(refused("port: .inf\n"))


def test_python_tags_are_not_constructed() -> None:
    with pytest.raises(DocumentError, match="could not determine a constructor for the tag"):
        load_documents("!!python/object/apply:os.system ['true']", source="f")


def test_a_syntax_error_names_source_line_and_column() -> None:
    with pytest.raises(DocumentError) as caught:
        load_documents("a: 1\nb: [1, 2\n", source="p.yaml")
    assert str(caught.value) == (
        "p.yaml: invalid YAML: did not find expected ',' or ']' at line 3, column 1"
    )
    assert (caught.value.source, caught.value.line, caught.value.column) == ("p.yaml", 3, 1)


# --- hostile files ---------------------------------------------------------------------------


def test_an_alias_bomb_is_refused_without_expanding() -> None:
    error = refused((HOSTILE / "alias-bomb.yaml").read_text())
    assert error.message == "expands to more than 50000 nodes (aliases counted expanded)"
    # Refused within the fifth level (66,430 nodes each), long before any value is built.
    assert error.line == 11


def test_a_recursive_alias_is_refused() -> None:
    error = refused((HOSTILE / "recursive-alias.yaml").read_text())
    assert error.detail == 'recursive alias "*spec" at line 7, column 8'


def test_twenty_thousand_nested_brackets_are_a_clean_error() -> None:
    text = (HOSTILE / "deep-brackets.yaml").read_text()
    assert text.count("[") == 20_000
    error = refused(text)
    # libyaml stops at its own limit (1,000) while scanning ahead; either limit is a clean error.
    assert "nest" in error.message
    assert error.line == 1


def test_nesting_below_libyaml_limit_is_refused_at_netisos() -> None:
    error = refused((HOSTILE / "deep-mapping.yaml").read_text())
    assert error.message == f"nests deeper than {DEFAULT_LIMITS.max_depth} levels"
    assert error.line == DEFAULT_LIMITS.max_depth + 5


def test_a_duplicate_key_names_the_key_and_both_lines() -> None:
    error = refused((HOSTILE / "duplicate-keys.yaml").read_text())
    assert str(error) == 'in.yaml: duplicate key "mode" at line 10, column 3 (first at line 8)'


def test_duplicate_keys_are_found_in_json_and_flow_mappings_too() -> None:
    with pytest.raises(DocumentError, match=r'duplicate key "a" at line 1, column 10'):
        load_documents('{"a": 1, "a": 2}', source="f")


def test_a_ten_megabyte_file_is_refused_by_its_size() -> None:
    error = refused("data: " + "x" * (10 * MiB))
    assert error.message == f"is {10 * MiB + 6} bytes, more than the limit of {MiB}"


def test_size_counts_utf8_bytes_not_characters() -> None:
    limits = DocumentLimits(max_bytes=100)
    assert load_documents("a: " + "é" * 48, source="f", limits=limits) == [{"a": "é" * 48}]
    with pytest.raises(DocumentError, match="is 105 bytes"):
        load_documents("a: " + "é" * 51, source="f", limits=limits)


def test_many_small_nodes_within_the_size_limit_are_refused_by_count() -> None:
    text = "[" + "1," * 400_000 + "]"
    assert len(text) < DEFAULT_LIMITS.max_bytes
    assert refused(text).message.startswith("expands to more than 50000 nodes")


def test_the_node_limit_spans_all_documents_of_a_text() -> None:
    limits = DocumentLimits(max_nodes=100)
    document = "[" + ",".join(["1"] * 30) + "]\n"
    assert len(load_documents("---\n".join([document] * 3), source="f", limits=limits)) == 3
    with pytest.raises(DocumentError, match="expands to more than 100 nodes"):
        load_documents("---\n".join([document] * 4), source="f", limits=limits)


def test_too_many_documents_are_refused() -> None:
    limits = DocumentLimits(max_documents=3)
    assert load_documents("---\na: 1\n" * 3, source="f", limits=limits) == [{"a": 1}] * 3
    with pytest.raises(DocumentError, match="holds more than 3 documents at line 7"):
        load_documents("---\na: 1\n" * 4, source="f", limits=limits)


def test_an_oversized_document_is_refused() -> None:
    limits = DocumentLimits(max_document_bytes=50)
    load_documents(f"a: {'x' * 40}\n---\nb: {'y' * 40}\n", source="f", limits=limits)
    with pytest.raises(DocumentError, match="document is longer than 50 characters"):
        load_documents(f"a: {'x' * 60}\n", source="f", limits=limits)


# --- messages stay short ---------------------------------------------------------------------


def test_a_huge_duplicate_key_is_clipped_in_the_message() -> None:
    key = "k" * 100_000
    with pytest.raises(DocumentError) as caught:
        # `? key` is the explicit form: an implicit key may not be longer than 1024 characters.
        load_documents(f"? {key}\n: 1\n? {key}\n: 2\n", source="f")
    assert len(str(caught.value)) < 200
    assert "(100000 characters)" in str(caught.value)


def test_a_huge_tag_is_clipped_in_the_message() -> None:
    with pytest.raises(DocumentError) as caught:
        load_documents(f"!{'t' * 100_000} x", source="f")
    assert len(str(caught.value)) < 400


def test_clipped_quotes_short_text_whole_and_long_text_cut() -> None:
    assert clipped('say "hi"') == '"say \\"hi\\""'
    assert clipped("x" * 100, limit=3) == '"xxx"... (100 characters)'


# --- without libyaml -------------------------------------------------------------------------


def test_the_pure_python_loader_enforces_the_same_limits() -> None:
    # A fresh interpreter where PyYAML has no C extension: the fallback path, end to end.
    script = f"""
import yaml
del yaml.CSafeLoader
from pathlib import Path
from netiso.model.documents import DocumentError, load_documents, _BaseLoader
assert _BaseLoader is yaml.SafeLoader, _BaseLoader
assert load_documents("a: [1, 2]", source="f") == [{{"a": [1, 2]}}]
for name in ("alias-bomb.yaml", "deep-brackets.yaml", "duplicate-keys.yaml"):
    try:
        load_documents(Path({str(HOSTILE)!r}, name).read_text(), source=name)
    except DocumentError as error:
        print(error)
"""
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO / "operator")},
        check=False,
        timeout=120,
    )
    assert (result.returncode, result.stderr) == (0, "")
    lines = result.stdout.splitlines()
    assert lines[0].startswith("alias-bomb.yaml: expands to more than 50000 nodes")
    assert lines[1].startswith("deep-brackets.yaml: nests deeper than 64 levels")
    assert (
        lines[2]
        == 'duplicate-keys.yaml: duplicate key "mode" at line 10, column 3 (first at line 8)'
    )
