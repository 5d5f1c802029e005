"""Property-based: generated policy, service profile, attestation and verdict documents (hypothesis), fed to the
real parsers through the CLI in-process. Whatever the document, the answer is a documented exit code and at most
one `harness: error:` line: never a traceback, never exit 1 for a document that is not a valid no-go verdict."""

from __future__ import annotations

import contextlib
import io
import json
import math
import tempfile
from datetime import date, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness import cli
from harness.checklist.attestations import parse_attestations
from harness.errors import ConfigError

KEYS = st.sampled_from(
    [
        "phases",
        "gates",
        "drop",
        "id",
        "suite",
        "metric",
        "op",
        "threshold",
        "kind",
        "check",
        "description",
        "traffic",
        "paths",
        "health",
        "auth",
        "token_env",
        "login",
        "operations",
        "attestation",
        "item",
        "by",
        "at",
        "expires",
        "note",
        "verdict",
        "schema",
        "gates",
        "reasons",
        "status",
        "pr",
        "internal",
        "smoke",
        "x",
    ]
) | st.text(min_size=1, max_size=8)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20)
    | st.dates()
    | st.datetimes()
)
DOCS = st.recursive(
    SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=4), max_leaves=20
)
TABLES = st.dictionaries(KEYS, DOCS, max_size=5)


def toml_value(v) -> str | None:
    """A TOML inline value for v (None: TOML has no null, the key is left out)."""
    if v is None:
        return None
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v) if abs(v) < 2**63 else json.dumps(str(v))
    if isinstance(v, float):
        return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf") if math.isinf(v) else repr(v)
    if isinstance(v, datetime):
        return v.isoformat()
    if isinstance(v, date):
        return v.isoformat()
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, list):
        return "[" + ", ".join(x for x in map(toml_value, v) if x is not None) + "]"
    items = [(k, toml_value(x)) for k, x in v.items()]
    return "{" + ", ".join(f"{json.dumps(k)} = {x}" for k, x in items if x is not None) + "}"


def toml_doc(table: dict) -> str:
    return "\n".join(
        f"{json.dumps(k)} = {x}" for k, x in ((k, toml_value(v)) for k, v in table.items()) if x is not None
    )


def run(*argv: str) -> tuple[int, str]:
    err, out = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out), pytest.raises(SystemExit) as done:
        cli.main(list(argv))
    return int(done.value.code), out.getvalue() + err.getvalue()


def one_line_at_most(text: str) -> None:
    assert "Traceback" not in text
    errors = [line for line in text.splitlines() if line.startswith("harness: error:")]
    assert len(errors) <= 1, text
    for line in errors:
        assert "the harness itself failed" not in line, line


COMMON = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@COMMON
@given(TABLES, st.booleans())
def test_a_generated_policy_is_a_policy_or_one_line_and_64(table, under_phases):
    doc = {"phases": {"pr": table}} if under_phases else table
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "team.toml"
        path.write_text(toml_doc(doc))
        code, text = run("phases", "--policy-file", str(path), "--format", "json")
    assert code in (0, 64), text
    one_line_at_most(text)


@COMMON
@given(TABLES)
def test_a_generated_service_profile_is_a_profile_or_one_line_and_64(table):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "service.toml"
        path.write_text(toml_doc(table))
        code, text = run("service", "--service", str(path))
    assert code in (0, 64), text
    one_line_at_most(text)


@COMMON
@given(st.lists(st.dictionaries(KEYS | st.sampled_from(["item", "by", "at", "expires"]), DOCS, max_size=6), max_size=3))
def test_generated_attestations_parse_or_are_one_config_error(items):
    text = "\n".join("[[attestation]]\n" + toml_doc(item) for item in items)
    try:
        parse_attestations(text, "a.toml")
    except ConfigError as exc:
        assert "\n" not in str(exc)


VERDICT_KEYS = st.sampled_from(["schema", "verdict", "phase", "target", "gates", "reasons", "notes", "scope"])


@COMMON
@given(
    st.dictionaries(VERDICT_KEYS | KEYS, DOCS, max_size=8),
    st.sampled_from(["go", "no-go", "inconclusive", "maybe"]),
    st.booleans(),
)
def test_a_generated_verdict_is_read_or_refused_never_a_traceback(doc, verdict, with_schema):
    doc = dict(doc)
    doc["verdict"] = verdict
    if with_schema:
        doc["schema"] = "harness.verdict/v1.1"
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "verdict.json"
        path.write_text(json.dumps(doc, default=str))
        code, text = run("report", str(path))
    assert code in (0, 1, 2), text
    if code == 1:  # only a verdict that validates and says no-go
        assert verdict == "no-go" and "harness: error" not in text
    one_line_at_most(text)
