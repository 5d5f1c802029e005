"""Waivers (owner, reason, expiry), new-vs-known history, the findings reports, and the suite's options."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from harness.config import load_settings
from harness.errors import ConfigError
from harness.security.errors import WaiverFileError
from harness.security.findings import Finding, summarize
from harness.security.history import history_key, mark_and_record
from harness.security.options import security_options
from harness.security.report import Reports
from harness.security.waivers import apply_waivers, load_waivers, parse_waivers
from harness.target import Target

ROOT = Path(__file__).resolve().parents[2]


def trivy(rule="DS-0002", file="scripts/offline/redis.Dockerfile", severity="high") -> Finding:
    return Finding("trivy", rule, "root user", severity, "FAIL", file=file, line=3, key=f"{file}|{rule}")


def zap(rule="10037", path="/health") -> Finding:
    return Finding("native", rule, "X-Powered-By", "low", "FAIL", method="GET", url=f"http://127.0.0.1:8000{path}")


WAIVERS = """
[[waiver]]
rule = "DS-0002"
where = "scripts/offline/*"
owner = "platform"
reason = "test-only image"
expires = 2030-01-31

[[waiver]]
rule = "10037"
where = "/health"
owner = "api team"
reason = "until the proxy strips it"
expires = "2026-01-01"
"""


def test_a_valid_waiver_stops_blocking_an_expired_one_blocks_and_says_so():
    waivers = parse_waivers(WAIVERS, "w.toml")
    covered, elsewhere, expired, other = trivy(), trivy(file="deploy/Dockerfile"), zap(), zap(path="/metrics")
    findings = [covered, elsewhere, expired, other]
    apply_waivers(findings, waivers, today=date(2026, 11, 26))
    assert covered.waived and not covered.blocking
    assert elsewhere.waiver is None and elsewhere.blocking
    assert expired.waiver["expired"] and expired.blocking
    assert "waiver expired 2026-01-01, owner api team" in expired.describe()
    assert other.waiver is None
    assert "waived until 2030-01-31" in covered.describe()
    assert summarize(findings).startswith("2 blocking rule(s) at 3 place(s)")


def test_a_waiver_may_name_one_finding_by_fingerprint():
    f, g = zap(path="/a"), zap(path="/b")
    waivers = parse_waivers(
        f'[[waiver]]\nfingerprint = "{f.fingerprint}"\nowner = "o"\nreason = "r"\nexpires = 2099-01-01\n', "w"
    )
    apply_waivers([f, g], waivers)
    assert f.waived and not g.waived


@pytest.mark.parametrize(
    ("text", "detail"),
    [
        ("[[waiver]]\nowner='o'\nreason='r'\nexpires=2030-01-01\n", "names neither a rule nor a fingerprint"),
        ("[[waiver]]\nrule='x'\nreason='r'\nexpires=2030-01-01\n", "waiver #1 has no owner"),
        ("[[waiver]]\nrule='x'\nowner='o'\nexpires=2030-01-01\n", "waiver #1 has no reason"),
        ("[[waiver]]\nrule='x'\nowner='o'\nreason='r'\n", "waiver #1 has no expires"),
        ("[[waiver]]\nrule='x'\nowner='o'\nreason='r'\nexpires='soon'\n", "expires = 'soon' is not a date"),
        ("[[waiver]]\nrule='x'\nowner='o'\nreason='r'\nexpires=2030-01-01\nuntil=1\n", "unknown key 'until'"),
        ("waiver = 'x'\n", "must be an array of tables"),
        ("[[waiver]\n", "is not valid TOML"),
    ],
)
def test_a_bad_waiver_file_is_one_line(text, detail):
    with pytest.raises(WaiverFileError) as exc:
        parse_waivers(text, "security/waivers.toml")
    assert detail in str(exc.value) and "\n" not in str(exc.value)


def test_the_committed_waiver_file_is_valid_and_has_owners_reasons_and_expiry():
    waivers = load_waivers(ROOT / "security/waivers.toml")
    assert waivers and all(w.owner and w.reason and w.expires for w in waivers)
    assert load_waivers(ROOT / "no-such-file.toml") == []


def test_new_vs_known_against_the_last_recorded_run(tmp_path):
    history = tmp_path / "history" / "security.json"
    key = history_key("zap", "http://127.0.0.1:4242", ephemeral=True)
    assert key == "zap @ local"
    first = [zap(path="/a"), zap(path="/b")]
    assert mark_and_record(first, history, key, session="run-1") is None
    assert all(f.new for f in first)
    again = [zap(path="/a"), zap(path="/b")]  # the check re-run in the same session: still new
    assert mark_and_record(again, history, key, session="run-1") is None and all(f.new for f in again)
    second = [zap(path="/a"), zap(path="/c")]
    recorded = mark_and_record(second, history, key, session="run-2")
    assert recorded is not None
    assert [(f.url.rsplit("/", 1)[1], f.new) for f in second] == [("a", False), ("c", True)]
    third = [zap(path="/b")]  # /b was in the first run, not in the last one: new again
    mark_and_record(third, history, key, session="run-3")
    assert third[0].new
    other_target = [zap(path="/a")]
    mark_and_record(
        other_target, history, history_key("zap", "https://staging.example", ephemeral=False), session="run-3"
    )
    assert other_target[0].new


def test_reports_are_redacted_and_merged(tmp_path):
    target = Target(base_url="http://127.0.0.1:1", token="tok-SECRET-123", ephemeral=True)
    reports = Reports(tmp_path, target)
    leaky = zap()
    leaky.evidence = "Authorization: Bearer tok-SECRET-123"
    line = reports.finish("zap", [leaky], [])
    reports.finish("trivy", [trivy()], parse_waivers(WAIVERS, "w"))
    reports.write("raw.json", {"echo": "tok-SECRET-123"})
    assert "10037" in line
    for path in tmp_path.rglob("*.json"):
        assert "tok-SECRET-123" not in path.read_text(), path
    merged = json.loads((tmp_path / "security" / "findings.json").read_text())
    assert set(merged["checks"]) == {"zap", "trivy"}
    assert {(f["check"], f["rule_id"], f["blocking"]) for f in merged["findings"]} == {
        ("zap", "10037", True),
        ("trivy", "DS-0002", False),
    }


def test_security_options_defaults_env_overrides_and_errors(tmp_path):
    (tmp_path / "pyproject.toml").write_text(
        '[tool.harness.security]\npublic_operations = ["GET /health"]\ntls_min_days = 30\n'
    )
    settings = load_settings({}, env={}, root=tmp_path)
    opts = security_options(settings, env={})
    assert opts.public_operations == ("GET /health",) and opts.tls_min_days == 30
    assert opts.rules_file is None and opts.waivers_file == tmp_path / "security/waivers.toml"
    assert opts.zap_api_url is None and opts.websocket_anonymous == "ping-only"
    env = {
        "ZAP_API_URL": "http://127.0.0.1:8090",
        "ZAP_API_KEY": "k",
        "HARNESS_ZAP_REPORT": "zap.json",
        "HARNESS_TRIVY_CACHE_DIR": "/var/cache/trivy",
        "HARNESS_SECURITY_TLS_MIN_DAYS": "7",
        "HARNESS_SECURITY_WEBSOCKET_PATHS": "",
        "HARNESS_SECURITY_TRIVY_FS": "off",
    }
    opts = security_options(settings, env=env)
    assert opts.zap_api_url == "http://127.0.0.1:8090" and opts.zap_api_key == "k"
    assert opts.zap_report == tmp_path / "zap.json" and opts.trivy_cache_dir == Path("/var/cache/trivy")
    assert opts.tls_min_days == 7 and opts.websocket_paths == () and opts.trivy_fs is False
    for bad_env, detail in [
        ({"HARNESS_SECURITY_TLS_MIN_DAYS": "two weeks"}, "is not a valid float"),
        ({"HARNESS_SECURITY_WEBSOCKET_ANONYMOUS": "allow"}, "is not one of ping-only, refuse"),
        ({"ZAP_API_URL": "127.0.0.1:8090"}, "must be an http:// URL"),
        ({"HARNESS_SECURITY_TRIVY_FS": "maybe"}, "is not a valid bool"),
    ]:
        with pytest.raises(ConfigError, match=detail):
            security_options(settings, env=bad_env)
    (tmp_path / "pyproject.toml").write_text('[tool.harness.security]\nzap_api_urll = "x"\n')
    with pytest.raises(ConfigError, match="did you mean 'zap_api_url'"):
        security_options(load_settings({}, env={}, root=tmp_path), env={})
    (tmp_path / "pyproject.toml").write_text('[tool.harness.security]\npublic_operations = ["/health"]\n')
    with pytest.raises(ConfigError, match="is not 'METHOD /path'"):
        security_options(load_settings({}, env={}, root=tmp_path), env={})
