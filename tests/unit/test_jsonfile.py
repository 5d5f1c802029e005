"""The one reader of user files: regular files only, bounded in size and depth, BOM accepted, strict JSON."""

from __future__ import annotations

import os
import threading
import time

import pytest

from harness.checklist.attestations import parse_attestations
from harness.errors import ConfigError
from harness.jsonfile import load_json, load_toml, parse_json, read_text


def test_a_fifo_is_refused_at_once_never_read(tmp_path):
    fifo = tmp_path / "policy.toml"
    os.mkfifo(fifo)
    got: list[BaseException] = []
    worker = threading.Thread(target=lambda: _catch(got, fifo), daemon=True)
    t0 = time.monotonic()
    worker.start()
    worker.join(5)
    assert not worker.is_alive(), "reading a FIFO blocked"
    assert time.monotonic() - t0 < 5
    assert "is a FIFO, not a regular file" in str(got[0])


def _catch(got, path):
    try:
        read_text(path, "policy file", ConfigError, missing="does not exist")
    except ConfigError as exc:
        got.append(exc)


def test_a_device_and_a_file_over_the_limit_are_refused(tmp_path):
    with pytest.raises(ConfigError, match="is a device"):
        read_text(__import__("pathlib").Path("/dev/zero"), "policy file", ConfigError, missing="x")
    big = tmp_path / "big.toml"
    big.write_bytes(b"x" * 2049)
    with pytest.raises(ConfigError, match="larger than"):
        read_text(big, "policy file", ConfigError, missing="x", limit=2048)
    big.write_bytes(b"x" * 2048)
    assert len(read_text(big, "policy file", ConfigError, missing="x", limit=2048)) == 2048


def test_a_byte_order_mark_is_accepted(tmp_path):
    path = tmp_path / "p.toml"
    path.write_bytes(b'\xef\xbb\xbf[phases.pr]\ndescription = "x"\n')
    assert load_toml(path, "policy file", ConfigError, missing="x") == {"phases": {"pr": {"description": "x"}}}


@pytest.mark.parametrize("depth", [65, 3000])
def test_nesting_is_bounded_in_toml_and_json(tmp_path, depth):
    path = tmp_path / "deep.toml"
    path.write_text("a = " + "[" * depth + "]" * depth + "\n")
    with pytest.raises(ConfigError, match="nested more than 64 deep"):
        load_toml(path, "policy file", ConfigError, missing="x")
    with pytest.raises(ValueError, match="nested more than 64 deep"):
        parse_json("[" * depth + "]" * depth)


def test_json_refuses_nan_and_duplicate_keys(tmp_path):
    path = tmp_path / "v.json"
    for text, says in [('{"a": NaN}', "NaN"), ('{"a": Infinity}', "Infinity"), ('{"a": 1, "a": 2}', "duplicate key")]:
        path.write_text(text)
        with pytest.raises(ConfigError, match=says):
            load_json(path, "verdict", ConfigError, missing="x", hint="h")
    assert parse_json('{"a": [1.5, {"b": null}]}') == {"a": [1.5, {"b": None}]}


def test_an_attestation_with_a_datetime_is_compared_as_its_day():
    text = """
[[attestation]]
item = "code_review"
by = "a"
at = 2026-01-01T10:00:00Z
expires = 2026-03-01
[[attestation]]
item = "code_review"
by = "b"
at = 2026-02-01
expires = 2026-03-01T00:00:00
"""
    got = parse_attestations(text, "a.toml")["code_review"]
    assert got.by == "b"  # the later day wins; datetime and date compared without a TypeError
    ok, _ = got.state(got.at)
    assert ok


def test_an_attestation_dated_in_the_future_is_refused():
    text = '[[attestation]]\nitem = "code_review"\nby = "a"\nat = 2099-01-01\nexpires = 2099-02-01\n'
    with pytest.raises(ConfigError, match="is in the future"):
        parse_attestations(text, "a.toml")
