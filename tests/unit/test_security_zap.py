"""zap-baseline rules files and ZAP JSON reports: parse, apply, write, ingest; every bad input is one line."""

from __future__ import annotations

import json

import pytest

from harness.security.errors import RulesFileError, ZapReportError
from harness.security.findings import summarize
from harness.security.rules import load_rules, parse_rules
from harness.security.zap_report import (
    Alert,
    Instance,
    findings_from_alerts,
    from_api_alerts,
    parse_report,
    read_report,
    to_report,
)

RULES = (
    "# a comment\n"
    "\n"
    "10020\tFAIL\t(Missing Anti-clickjacking Header)\n"
    "10021\tWARN\t(X-Content-Type-Options Header Missing)\tfix it next sprint\n"
    "10049\tIGNORE\t(Storable and Cacheable Content)\n"
    "10055-7\tFAIL\t(CSP: style-src unsafe-inline)\n"
    "10096\tINFO\t(Timestamp Disclosure)\n"
    "10020\tOUTOFSCOPE\thttp://app/docs.*\n"
    "*\tOUTOFSCOPE\t.*/static/.*\n"
)


def alert(pid: str, risk: int = 2, urls: tuple[str, ...] = ("http://app/health",), ref: str = "") -> Alert:
    return Alert(pid, f"rule {pid}", risk, 2, [Instance(uri=u) for u in urls], alert_ref=ref)


def test_rules_file_levels_messages_sub_rules_and_scope():
    rules = parse_rules(RULES, "rules.tsv")
    assert rules.level("10020") == "FAIL"
    assert rules.level("10021") == "WARN" and rules.messages["10021"] == "fix it next sprint"
    assert rules.level("99999") == "WARN"  # unlisted rules are WARN, as in zap-baseline
    assert rules.dropped("10049")
    assert rules.level("10055", alert_ref="10055-7") == "FAIL" and rules.level("10055", alert_ref="10055-4") == "WARN"
    assert not rules.in_scope("10020", "http://app/docs/oauth")
    assert rules.in_scope("10020", "http://app/health")
    assert not rules.in_scope("10038", "http://app/static/x.js")


@pytest.mark.parametrize(
    ("text", "detail"),
    [
        ("10020\tFAIL\n", "rules.tsv:1: expected 3 tab-separated fields"),
        ("# ok\n10020 FAIL (spaces, not tabs)\n", "rules.tsv:2: expected 3 tab-separated fields"),
        ("10020\tBLOCK\t(x)\n", "level 'BLOCK' is not one of PASS, IGNORE, INFO, WARN, FAIL"),
        ("abc\tFAIL\t(x)\n", "rule id 'abc' is not a ZAP plugin id"),
        ("10020\tOUTOFSCOPE\t[unclosed\n", "OUTOFSCOPE regex '[unclosed' is invalid"),
    ],
)
def test_a_bad_rules_file_is_one_line_naming_the_line(text, detail):
    with pytest.raises(RulesFileError) as exc:
        parse_rules(text, "rules.tsv")
    assert detail in str(exc.value) and "\n" not in str(exc.value)


def test_the_committed_default_rules_file_fails_what_the_faults_do_and_warns_on_the_docs_cdn():
    rules = load_rules(None)
    for pid in ("10020", "10021", "10035", "10036", "10037", "10038", "10098", "90022", "10010", "10011", "10054"):
        assert rules.level(pid) == "FAIL", pid
    assert rules.level("10017") == "WARN" and rules.level("10049") == "INFO"


def test_a_missing_rules_file_is_one_line(tmp_path):
    with pytest.raises(RulesFileError, match="cannot be read"):
        load_rules(tmp_path / "nope.tsv")


def test_findings_follow_the_rules_fail_blocks_warn_reports_ignore_drops():
    rules = parse_rules(RULES, "rules.tsv")
    alerts = [
        alert("10020", urls=("http://app/health", "http://app/docs")),  # /docs out of scope for 10020
        alert("10021", risk=1),
        alert("10049", risk=0),
        alert("10055", ref="10055-7"),
    ]
    findings = findings_from_alerts(alerts, rules)
    got = {(f.rule_id, f.level, f.url) for f in findings}
    assert got == {
        ("10020", "FAIL", "http://app/health"),
        ("10021", "WARN", "http://app/health"),
        ("10055", "FAIL", "http://app/health"),
    }
    assert {f.rule_id for f in findings if f.blocking} == {"10020", "10055"}
    assert findings[0].severity == "medium"
    line = summarize(findings)
    assert (
        line.startswith("2 blocking rule(s) at 2 place(s), 2 new") and "10020 rule 10020 at GET /health [new]" in line
    )


def test_fingerprints_ignore_host_and_port_and_are_shared_by_native_and_zap():
    rules = parse_rules("", "empty")
    a = findings_from_alerts([alert("10021", urls=("http://127.0.0.1:1111/health?x=1",))], rules)[0]
    b = findings_from_alerts([alert("10021", urls=("http://127.0.0.1:2222/health?x=1",))], rules)[0]
    zap = alert("10021", urls=("http://127.0.0.1:3333/health?x=1",))
    zap.source = "zap"
    c = findings_from_alerts([zap], rules)[0]
    assert a.fingerprint == b.fingerprint == c.fingerprint
    assert findings_from_alerts([alert("10021", urls=("http://h/other",))], rules)[0].fingerprint != a.fingerprint


def test_a_written_report_is_zap_traditional_json_and_reads_back():
    alerts = [alert("10038", urls=("http://127.0.0.1:8000/docs", "https://api.example:8443/docs")), alert("10021", 1)]
    doc = to_report(alerts, program="test", version="1")
    assert {s["@name"] for s in doc["site"]} == {"http://127.0.0.1:8000", "https://api.example:8443", "http://app"}
    site = next(s for s in doc["site"] if s["@name"] == "https://api.example:8443")
    assert site["@port"] == "8443" and site["@ssl"] == "true"
    a = site["alerts"][0]
    assert a["pluginid"] == "10038" and a["riskcode"] == "2" and a["riskdesc"] == "Medium (Medium)"
    assert a["instances"][0]["uri"] == "https://api.example:8443/docs" and a["count"] == "1"
    back = parse_report(json.loads(json.dumps(doc)), "doc")
    assert sorted((a.pluginid, len(a.instances)) for a in back) == [("10021", 1), ("10038", 1), ("10038", 1)]


# the shape zap-baseline.py -J writes (traditional-json), as found in real reports; older ZAP wrote one
# site as an object instead of a list
ZAP_BASELINE_REPORT = {
    "@programName": "ZAP",
    "@version": "2.16.0",
    "@generated": "Thu, 26 Nov 2026 10:00:00",
    "site": {
        "@name": "http://app:8000",
        "@host": "app",
        "@port": "8000",
        "@ssl": "false",
        "alerts": [
            {
                "pluginid": "10037",
                "alertRef": "10037",
                "alert": 'Server Leaks Information via "X-Powered-By" HTTP Response Header Field(s)',
                "name": 'Server Leaks Information via "X-Powered-By" HTTP Response Header Field(s)',
                "riskcode": "1",
                "confidence": "2",
                "riskdesc": "Low (Medium)",
                "desc": "<p>...</p>",
                "instances": [
                    {
                        "uri": "http://app:8000/health",
                        "method": "GET",
                        "param": "",
                        "attack": "",
                        "evidence": "X-Powered-By: FastAPI",
                    }
                ],
                "count": "1",
                "systemic": False,
                "solution": "",
                "otherinfo": "",
                "reference": "",
                "cweid": "497",
                "wascid": "13",
                "sourceid": "3",
            }
        ],
    },
}


def test_a_zap_baseline_report_is_ingested(tmp_path):
    path = tmp_path / "zap.json"
    path.write_text(json.dumps(ZAP_BASELINE_REPORT))
    alerts = read_report(path)
    assert len(alerts) == 1 and alerts[0].pluginid == "10037" and alerts[0].source == "zap-report"
    f = findings_from_alerts(alerts, load_rules(None))[0]
    assert f.level == "FAIL" and f.severity == "low" and f.evidence == "X-Powered-By: FastAPI"


@pytest.mark.parametrize(
    ("content", "detail"),
    [
        ('{"site": [', "is not valid JSON"),
        ('{"alerts": []}', "has no 'site' list"),
        ('{"site": [{"alerts": [{"alert": "x", "riskcode": "1"}]}]}', "site[0].alerts[0] has no pluginid"),
        ('{"site": [{"alerts": [{"pluginid": "1", "riskcode": "high"}]}]}', "riskcode 'high' is not a number"),
        ('{"site": [{"alerts": [{"pluginid": "1", "riskcode": "7"}]}]}', "riskcode 7 is out of range"),
        ('{"site": [{"alerts": {"pluginid": "1"}}]}', "site[0] has no alerts list"),
    ],
)
def test_a_malformed_zap_report_is_one_line(tmp_path, content, detail):
    path = tmp_path / "zap.json"
    path.write_text(content)
    with pytest.raises(ZapReportError) as exc:
        read_report(path)
    assert detail in str(exc.value) and str(path) in str(exc.value) and "\n" not in str(exc.value)


def test_a_missing_zap_report_is_one_line(tmp_path):
    with pytest.raises(ZapReportError, match="does not exist; fix --zap-report"):
        read_report(tmp_path / "absent.json")


def test_zap_api_alerts_become_alerts_grouped_by_rule():
    raw = [
        {
            "pluginId": "10021",
            "alert": "X-Content-Type-Options Header Missing",
            "risk": "Low",
            "confidence": "Medium",
            "url": "http://app/a",
            "method": "GET",
            "param": "x-content-type-options",
            "evidence": "",
        },
        {
            "pluginId": "10021",
            "alert": "X-Content-Type-Options Header Missing",
            "risk": "Low",
            "confidence": "Medium",
            "url": "http://app/b",
            "method": "GET",
        },
        {
            "pluginId": "10098",
            "alert": "Cross-Domain Misconfiguration",
            "risk": "Medium",
            "confidence": "Medium",
            "url": "http://app/a",
            "method": "GET",
            "evidence": "Access-Control-Allow-Origin: *",
        },
    ]
    alerts = from_api_alerts(raw)
    assert [(a.pluginid, a.riskcode, len(a.instances)) for a in alerts] == [("10098", 2, 1), ("10021", 1, 2)]
    assert all(a.source == "zap" for a in alerts)
    with pytest.raises(ZapReportError, match="unknown risk"):
        from_api_alerts([{"pluginId": "1", "risk": "Severe"}])
