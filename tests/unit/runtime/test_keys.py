"""The signing key file: read once at startup, refused when it cannot be a key.

Unit tests of netiso.runtime.keys (and the setting that names the file).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from netiso.runtime.keys import SigningKeyError, load_signer
from netiso.settings import Settings


def test_the_key_is_the_file_without_surrounding_whitespace(tmp_path: Path) -> None:
    path = tmp_path / "key"
    path.write_bytes(b"0123456789abcdef0123\n")
    signer = load_signer(path)
    assert signer is not None
    assert signer.key == b"0123456789abcdef0123"


def test_no_setting_or_no_file_means_unsigned_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    assert load_signer(None) is None
    assert load_signer(tmp_path / "absent") is None
    assert "netiso-signing-key" in caplog.text


def test_a_short_key_stops_the_operator_with_the_variable_named(tmp_path: Path) -> None:
    path = tmp_path / "key"
    path.write_bytes(b"short\n")
    with pytest.raises(SigningKeyError, match=r"NETISO_SIGNING_KEY_FILE: .* holds 5 bytes"):
        load_signer(path)


def test_the_setting_names_the_file_and_empty_means_none() -> None:
    assert Settings.from_env({}).signing_key_file is None
    assert Settings.from_env({"NETISO_SIGNING_KEY_FILE": ""}).signing_key_file is None
    assert Settings.from_env({"NETISO_SIGNING_KEY_FILE": "/k/key"}).signing_key_file == Path(
        "/k/key"
    )
