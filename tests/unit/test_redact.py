"""Redaction by structure: secrets leave string values only; keys, numbers and booleans never change; the
documents stay valid; text artefacts are redacted on their way into reports/; short secrets are refused."""

from __future__ import annotations

import json
import random
import xml.etree.ElementTree as ET
from pathlib import Path
from types import SimpleNamespace

import pytest

from harness.config import load_settings
from harness.errors import ConfigError, ReportError
from harness.evidence import Evidence
from harness.gate import write_reports
from harness.load.profiles import load_options_for
from harness.load.runner import LocustRunner
from harness.policy import default_policy
from harness.redact import (
    LiveCopy,
    check_user_secrets,
    redact_data,
    redact_file,
    redact_text,
    run_secrets,
    strip_userinfo,
)
from harness.stack.containers import ContainersStack
from harness.target import Target
from harness.verdict import evaluate, validate_verdict, verdict_document

ROOT = Path(__file__).resolve().parents[2]
SECRET = "Tok3n-planted-0123456789-abcdefghijklmn"  # 40 characters


def verdict(reason: str = "", target: str = "http://127.0.0.1:1") -> dict:
    phase = default_policy().phase("internal")
    records = [Evidence(suite="smoke", id="smoke.health", outcome="failed", message=reason, nodeid="n")]
    decision = evaluate(phase, records, selected=("smoke",), available={"smoke"})
    return verdict_document(
        decision,
        phase="internal",
        target={"base_url": target, "stack": "external", "version": None},
        started_at="2024-01-01T00:00:00.000Z",
        finished_at="2024-01-01T00:00:01.000Z",
        duration_s=1.0,
        policy_source="test",
        notes=[f"note {reason}"],
    )


def test_only_string_values_change_never_keys_numbers_or_booleans():
    doc = {"narrowed": True, "true": "true story", "e": ["e", 1, None, {"key e": False}], "x": 1.5}
    assert redact_data(doc, ["true"]) == {
        "narrowed": True,
        "true": "*** story",
        "e": ["e", 1, None, {"key e": False}],
        "x": 1.5,
    }
    assert redact_data(doc, ["e"])["e"][3] == {"key e": False}
    assert redact_data(doc, []) is doc


@pytest.mark.parametrize("secret", ["true", "e", "x"])
def test_the_issues_tokens_leave_a_valid_verdict_or_refuse_to_write_one(tmp_path, secret):
    """`true` no longer touches booleans, nor `e` keys; but `e` and `x` occur inside the verdict's own words
    ("schema": "harn***ss...", "stack": "e***ternal"), which the schema refuses: the verdict is validated
    after redaction and never written broken (such tokens are refused at start-up anyway)."""
    doc = verdict()
    try:
        write_reports(doc, tmp_path, [secret])
    except ReportError as exc:
        assert secret in ("e", "x") and "made the verdict invalid" in str(exc) and "\n" not in str(exc)
        assert not (tmp_path / "verdict.json").exists()
        return
    assert secret == "true"
    written = json.loads((tmp_path / "verdict.json").read_text())
    validate_verdict(written)
    assert written["scope"]["narrowed"] is True and set(written) == set(doc)


def test_reports_and_the_console_document_are_redacted_by_structure(tmp_path):
    leak = f'echo: "Authorization: Bearer {SECRET}" <{SECRET}> {SECRET.replace("-", "%2D")}'
    doc = write_reports(verdict(leak), tmp_path, [SECRET])
    assert SECRET not in json.dumps(doc)
    for name in ("verdict.json", "summary.md", "gates.xml"):
        text = (tmp_path / name).read_text()
        assert SECRET not in text and "Bearer ***" in text, name
    validate_verdict(json.loads((tmp_path / "verdict.json").read_text()))
    ET.parse(tmp_path / "gates.xml")


def test_every_encoded_form_of_a_secret_is_found_in_text():
    secret = 'a"b\\c/d+e=f<g>&h'
    forms = [
        secret,
        json.dumps(secret)[1:-1],
        repr(secret)[1:-1],
        "a%22b%5Cc%2Fd%2Be%3Df%3Cg%3E%26h",
        "a%22b%5cc%2fd%2be%3df%3cg%3e%26h",
        "a&quot;b\\c/d+e=f&lt;g&gt;&amp;h",
        'a""b\\c/d+e=f<g>&h',
    ]
    for form in forms:
        assert redact_text(f"[{form}]", [secret]) == "[***]", form


def test_xml_stays_valid_whatever_the_secret_is(tmp_path):
    junit = tmp_path / "staged.xml"
    junit.write_text(
        '<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="s"><testcase name="t">'
        f'<failure message="Bearer {SECRET}">body: {SECRET} &amp; more</failure></testcase></testsuite></testsuites>'
    )
    for secret in (SECRET, "testcase", "testsuite"):
        redact_file(junit, tmp_path / "junit.xml", [secret])
        root = ET.parse(tmp_path / "junit.xml").getroot()
        assert [el.tag for el in root.iter()] == ["testsuites", "testsuite", "testcase", "failure"]
    redact_file(junit, tmp_path / "junit.xml", [SECRET])
    text = (tmp_path / "junit.xml").read_text()
    assert SECRET not in text and 'message="Bearer ***"' in text


def test_json_artefacts_are_redacted_by_structure(tmp_path):
    raw = tmp_path / "raw.json"
    raw.write_text(json.dumps({SECRET[:8]: f"x {SECRET}", "n": 1, "ok": True}))
    redact_file(raw, tmp_path / "out.json", [SECRET, SECRET[:8]])
    assert json.loads((tmp_path / "out.json").read_text()) == {SECRET[:8]: "x ***", "n": 1, "ok": True}


def test_a_live_copy_never_holds_a_byte_of_a_secret_and_ends_as_the_whole_redacted(tmp_path):
    rng = random.Random(7)
    secrets = [SECRET, "abcdefgh", "abcdefgh=="]
    text = "".join(
        rng.choice(["..", "F", "\n", "abcdefg", "abcdefgh", "abcdefgh=", "abcdefgh%3D%3D", SECRET, SECRET[:-1], "é"])
        for _ in range(400)
    )
    src, dst = tmp_path / "src.log", tmp_path / "dst.log"
    src.write_text("")
    live = LiveCopy(src, dst, secrets)
    data, pos = text.encode(), 0
    while pos < len(data):
        step = rng.randint(1, 30)
        with src.open("ab") as fh:
            fh.write(data[pos : pos + step])  # may cut a multi-byte character in two
        pos += step
        live.pump()
        shown = dst.read_text()
        assert SECRET not in shown and "abcdefgh=" not in shown and "abcdefgh%3D" not in shown
    live.finish()
    assert dst.read_text() == redact_text(text, secrets)


def test_progress_dots_are_not_held_back(tmp_path):
    src, dst = tmp_path / "src.log", tmp_path / "dst.log"
    src.write_text("")
    live = LiveCopy(src, dst, [SECRET])
    src.write_text("..")
    live.pump()
    assert dst.read_text() == ".."  # pytest's progress dots reach reports/ while the suites run
    src.write_text(".." + SECRET[:5])
    live.pump()
    assert dst.read_text() == ".."  # the start of a secret waits for what follows


@pytest.mark.parametrize("name", ["HARNESS_TOKEN", "HARNESS_ADMIN_TOKEN", "ZAP_API_KEY"])
@pytest.mark.parametrize("value", ["true", "e", "x", "1234567"])
def test_a_user_secret_shorter_than_8_characters_is_refused_in_one_line(name, value):
    with pytest.raises(ConfigError) as info:
        load_settings({}, env={name: value}, root=ROOT)
    message = str(info.value)
    assert message == (
        f"{name} is shorter than 8 characters; a secret that short cannot be redacted from the reports safely: "
        "use a longer (random) one"
    )
    check_user_secrets({name: "12345678"})  # 8 is enough


@pytest.mark.parametrize(
    "where",
    [
        {"flags": {"target": "http://user:s3cret-pw@127.0.0.1:8000/"}},
        {"env": {"HARNESS_TARGET": "https://u:s3cret-pw@h.example"}},
    ],
)
def test_credentials_in_the_target_url_are_refused_and_never_printed(where):
    with pytest.raises(ConfigError) as info:
        load_settings(where.get("flags", {}), env=where.get("env", {}), root=ROOT)
    message = str(info.value)
    assert "s3cret-pw" not in message and message.startswith(
        ("--target http://127.0.0.1:8000/:", "--target https://h.")
    )
    assert "credentials in the URL" in message and "HARNESS_TOKEN" in message and "\n" not in message
    with pytest.raises(ConfigError) as info:
        load_settings({"target": "ftp://u:s3cret-pw@h/"}, env={}, root=ROOT)
    assert "s3cret-pw" not in str(info.value)
    assert strip_userinfo("http://u:p@h:1/x?q") == "http://h:1/x?q"


def test_every_source_of_secrets_is_collected():
    target = Target(
        "http://127.0.0.1:1",
        token="api-token-123",
        admin_token="admin-token-123",
        database_url="postgresql://orchestra:db-pass-123@127.0.0.1:5/db",
        redis_url="redis://:redis-pass-123@127.0.0.1:6/0",
    )
    env = {"HARNESS_TOKEN": "env-token-123", "HARNESS_ADMIN_TOKEN": "env-admin-123", "ZAP_API_KEY": "zap-key-123"}
    assert set(run_secrets(target, env)) == {
        "api-token-123",
        "admin-token-123",
        "db-pass-123",
        "redis-pass-123",
        "env-token-123",
        "env-admin-123",
        "zap-key-123",
    }


def test_locust_files_reach_the_reports_redacted(tmp_path):
    options = load_options_for(load_settings({}, env={}, root=ROOT))
    out = tmp_path / "load"
    out.mkdir()
    runner = LocustRunner(options.profile, "http://127.0.0.1:1", locustfile=Path("x"), out_dir=out, token=SECRET)
    runner.stage = tmp_path / "stage"
    runner.stage.mkdir()
    (runner.stage / "locust_failures.csv").write_text(f'Method,Name,Error\nWS,connect,"Bearer {SECRET}"\n')
    (runner.stage / "locust.log").write_text(f"Authorization: Bearer {SECRET}\n")
    argv = runner.master_argv(1)
    assert str(runner.stage / "locust") in argv  # Locust writes into the staging directory
    runner._publish()
    assert sorted(p.name for p in out.iterdir()) == ["locust.log", "locust_failures.csv"]
    assert all(SECRET not in p.read_text() for p in out.iterdir())
    assert not (tmp_path / "stage").exists()


def test_container_logs_are_redacted_on_their_way_in(tmp_path, monkeypatch):
    monkeypatch.setenv("ZAP_API_KEY", "zap-key-planted-1")
    stack = ContainersStack.__new__(ContainersStack)
    stack._secrets = run_secrets() + ["db-password-planted"]
    logs = SimpleNamespace(
        get_logs=lambda: (b"DATABASE_URL=postgresql://o:db-password-planted@db/x\n", b"zap-key-planted-1")
    )
    stack._containers = [("app", logs)]
    stack.save_logs(tmp_path)
    text = (tmp_path / "app.log").read_text()
    assert "db-password-planted" not in text and "zap-key-planted-1" not in text and "o:***@db" in text


def test_a_secret_a_child_obtains_at_run_time_is_redacted_from_its_live_log(tmp_path, monkeypatch):
    """The child records a login's token in the secrets file before using it; the parent's live copy reads
    that file before each read of the log, so the token never reaches the copy."""
    from harness import redact

    secrets_file, src, dst = tmp_path / "secrets", tmp_path / "child.log", tmp_path / "copy.log"
    src.write_text("")
    live = redact.LiveCopy(src, dst, ["static-secret-1"], secrets_file)
    monkeypatch.setenv(redact.SECRETS_FILE_ENV, str(secrets_file))
    monkeypatch.setattr(redact, "_REMEMBERED", set())
    with src.open("a") as log:
        log.write("before the login\n")
        log.flush()
        live.pump()
        redact.remember_secret("issued-token-abcdef123")  # the child: recorded first ...
        log.write("got issued-token-abcdef123 and static-secret-1\n")  # ... then it may appear
        log.flush()
        live.pump()
    live.finish()
    assert dst.read_text() == "before the login\ngot *** and ***\n"
    assert "issued-token-abcdef123" in redact.run_secrets(env={redact.SECRETS_FILE_ENV: str(secrets_file)})
    assert oct(secrets_file.stat().st_mode & 0o777) == "0o600"
