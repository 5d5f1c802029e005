"""report.html from a reports dir: banner, gates, reasons with repro lines, per-suite sections, charts, nothing
loaded from the network, secrets never shown, every value escaped. `harness report --html|--format json`,
`harness phases --format json` and GITHUB_STEP_SUMMARY."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from harness import cli
from harness.gate import write_reports
from harness.report.html import render_html
from harness.verdict import validate_verdict

SECRET = "s3cret-token-value-123"
CURL = "curl -X POST -H 'Authorization: Bearer '\"$HARNESS_TOKEN\" http://127.0.0.1:8000/chat/v2/chat -d '{}'"


def _gate(gid: str, suite: str, status: str, observed, threshold: str, **extra) -> dict:
    return {
        "id": gid,
        "suite": suite,
        "status": status,
        "observed": observed,
        "threshold": threshold,
        "reason": extra.pop("reason", ""),
        "about": extra.pop("about", ""),
        "repro": extra.pop("repro", []),
        "coverage": extra.pop("coverage", {}),
    }


def verdict(verdict_word: str = "no-go") -> dict:
    failing = verdict_word == "no-go"
    gates = [
        _gate("smoke.health", "smoke", "pass", "passed", "passed"),
        _gate(
            "contract.openapi",
            "contract",
            "fail" if failing else "pass",
            "1 failed" if failing else "5 passed",
            "passed",
            reason="POST /chat/v2/chat: ST103 Response violates schema",
            repro=[CURL] if failing else [],
            coverage={"operations": 5, "examples": 77},
        ),
        _gate("security.zap_fail", "security", "pass", 0.0, "== 0", coverage={"pages": 3}),
        _gate("load.p95_ms", "load", "pass", 53.0, "< 2000", coverage={"requests": 6000}),
    ]
    doc = {
        "schema": "harness.verdict/v1.1",
        "verdict": verdict_word,
        "phase": "pr",
        "target": {"base_url": "http://127.0.0.1:8000", "stack": "local", "version": "2.0.0"},
        "started_at": "2026-11-26T10:00:00.000Z",
        "finished_at": "2026-11-26T10:00:30.000Z",
        "duration_s": 30.0,
        "scope": {"narrowed": False, "requested": None, "evaluated": ["smoke", "contract", "security", "load"]},
        "suites": {},
        "gates": gates,
        "reasons": ["contract.openapi: POST /chat/v2/chat: ST103 Response violates schema"] if failing else [],
        "notes": [f"a note that carries the token {SECRET}"],
        "policy": "defaults",
        "harness_version": "0.1.0",
    }
    doc["scope"]["omitted"] = []
    return doc


def write_suite_files(reports: Path, failing: bool = True) -> None:
    reports.mkdir(parents=True, exist_ok=True)
    records = [
        {"suite": "smoke", "id": "smoke.health", "outcome": "passed", "nodeid": "t::a", "duration_s": 0.01,
         "message": "", "measurements": {}, "repro": ["pytest t::a"], "coverage": {}},
        {"suite": "contract", "id": "contract.openapi[POST /chat/v2/chat]",
         "outcome": "failed" if failing else "passed",
         "nodeid": "t::b", "duration_s": 1.0,
         "message": "POST /chat/v2/chat: ST103 Response violates schema; ST201 Undocumented status code"
         if failing else "", "measurements": {}, "repro": ["pytest 't::b'", CURL] if failing else [], "coverage": {}},
    ]  # fmt: skip
    (reports / "evidence.json").write_text(json.dumps({"schema": "harness.evidence/v1", "exitstatus": 1,
                                                       "suites": [], "records": records}))  # fmt: skip
    sec = reports / "security"
    sec.mkdir()
    findings = [
        {"check": "zap", "source": "native", "rule_id": "10017", "title": "Cross-Domain JavaScript Source",
         "severity": "low", "level": "WARN", "url": "http://127.0.0.1:8000/docs", "method": "GET",
         "evidence": '<script src="https://cdn.example/x.js"></script>', "new": True, "waiver": None,
         "where": "GET http://127.0.0.1:8000/docs", "blocking": False},
        {"check": "trivy", "source": "trivy", "rule_id": "DS-0002", "title": "Image user should not be 'root'",
         "severity": "high", "level": "FAIL", "file": "Dockerfile", "line": 3, "evidence": f"runs as root {SECRET}",
         "new": False, "waiver": {"owner": "platform", "reason": "stand-in image", "expires": "2027-05-31",
                                  "expired": False}, "where": "Dockerfile:3", "blocking": False},
    ]  # fmt: skip
    checks = {"zap": {"total": 1, "blocking": 0, "new": 1, "waived": 0, "by_level": {"WARN": 1}}}
    (sec / "findings.json").write_text(json.dumps({"checks": checks, "findings": findings}))
    load = reports / "load"
    load.mkdir()
    head = "Type,Name,Request Count,Failure Count,Requests/s,50%,90%,95%,99%,100%\n"
    (load / "locust_stats.csv").write_text(
        head + "GET,GET /health,100,0,10.0,20,30,40,50,60\n,Aggregated,100,0,10.0,20,30,40,50,60\n"
    )
    hist = ["Timestamp,User Count,Type,Name,Requests/s,Failures/s,50%,95%,99%"]
    for t in range(5):
        hist.append(f"{1700000000 + t},10,GET,GET /health,{10 * t},0,{20 + t},{40 + t},{50 + t}")
        hist.append(f"{1700000000 + t},10,,Aggregated,{10 * t},0,{20 + t},{40 + t},{50 + t}")
    hist.append("1700000005,10,,Aggregated,0,0,N/A,N/A,N/A")  # Locust's "no sample yet"
    (load / "locust_stats_history.csv").write_text("\n".join(hist) + "\n")
    (load / "result.json").write_text(json.dumps({"profile": {"name": "smoke", "users": 10}, "seconds": 5}))


def history(path: Path, runs: int = 3) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [
        {"schema": "harness.load-history/v1", "at": f"2026-11-2{i}T02:00:00Z", "profile": "nightly", "good": True,
         "metrics": {"p95_ms": 50 + i, "rps": 900 + i}}
        for i in range(runs)
    ]  # fmt: skip
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    return path


def svgs(page: str) -> list[str]:
    return re.findall(r"<svg\b.*?</svg>", page, re.S)


def test_a_no_go_report_shows_the_banner_the_gates_and_how_to_reproduce(tmp_path):
    write_suite_files(tmp_path)
    page = render_html(verdict("no-go"), tmp_path, [SECRET], history(tmp_path / "history" / "load.jsonl"))
    assert 'data-verdict="no-go"' in page and ">NO-GO<" in page
    assert len(re.findall(r'<tr class="gate"', page)) == 4
    assert re.search(r'data-gate="contract.openapi" data-status="fail"', page)
    assert "operations 5, examples 77" in page  # coverage
    assert "&#34;$HARNESS_TOKEN&#34;" in page or '"$HARNESS_TOKEN"' in page  # the repro line, token by name
    contract = page[page.index('id="contract"') : page.index('id="security"')]
    assert "POST /chat/v2/chat" in contract and ">ST103<" in contract and ">ST201<" in contract
    assert "curl -X POST" in contract


def test_sections_security_load_and_trend(tmp_path):
    write_suite_files(tmp_path)
    page = render_html(verdict("go"), tmp_path, [SECRET], history(tmp_path / "history" / "load.jsonl", 4))
    security = page[page.index('id="security"') : page.index('id="load"')]
    assert "native 10017" in security and "trivy DS-0002" in security
    assert "tag-new" in security and "tag-known" in security and "waived" in security and "platform" in security
    # the finding's evidence is HTML: shown as text, never as markup
    assert '<script src="https://cdn.example' not in page and "&lt;script src=" in security
    load = page[page.index('id="load"') : page.index('id="trend"')]
    charts = svgs(load)
    assert len(charts) == 3  # req/s over the run, latency of GET /health, latency of all endpoints
    for svg in charts:
        assert len(re.findall(r'<circle[^>]*class="dot ', svg)) >= 5, svg[:200]
    assert "Latency: GET /health" in load and "GET GET" not in load
    trend = page[page.index('id="trend"') :]
    assert len(svgs(trend)) == 2 and all(len(re.findall(r'<circle[^>]*class="dot ', s)) == 4 for s in svgs(trend))


def test_the_page_loads_nothing_and_shows_no_secret(tmp_path):
    write_suite_files(tmp_path)
    page = render_html(verdict("no-go"), tmp_path, [SECRET], history(tmp_path / "h.jsonl"))
    assert SECRET not in page and "***" in page
    assert "<script" not in page and "<link" not in page and "@import" not in page
    assert not re.search(r"""(?:src|href)\s*=\s*["'](?!#)""", page.replace("&lt;script src=", ""))
    assert "default-src 'none'" in page  # and the browser is told so


def test_without_suite_files_the_page_still_renders_what_the_verdict_says(tmp_path):
    page = render_html(verdict("no-go"), tmp_path, [], None)
    assert 'data-verdict="no-go"' in page and 'id="trend"' not in page
    assert "No stats history" in page and svgs(page) == []


def test_every_gate_run_writes_report_html_and_the_step_summary(tmp_path, monkeypatch):
    write_suite_files(tmp_path)
    summary = tmp_path / "step-summary.md"
    summary.write_text("earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    doc = verdict("no-go")
    validate_verdict(doc)
    write_reports(doc, tmp_path, [SECRET])
    assert 'data-verdict="no-go"' in (tmp_path / "report.html").read_text()
    text = summary.read_text()
    assert text.startswith("earlier step\n") and "# Rollout verdict: **NO-GO**" in text and SECRET not in text
    monkeypatch.delenv("GITHUB_STEP_SUMMARY")
    write_reports(doc, tmp_path, [SECRET])
    assert summary.read_text() == text  # not set: nothing appended


def test_harness_report_html_and_json(tmp_path, capsys):
    write_suite_files(tmp_path)
    doc = verdict("no-go")
    doc["notes"] = []
    (tmp_path / "verdict.json").write_text(json.dumps(doc))
    with pytest.raises(SystemExit) as done:
        cli.main(["report", str(tmp_path / "verdict.json"), "--html", "--format", "json"])
    assert done.value.code == 1
    assert json.loads(capsys.readouterr().out)["verdict"] == "no-go"
    assert 'data-verdict="no-go"' in (tmp_path / "report.html").read_text()


def test_harness_phases_format_json(capsys):
    with pytest.raises(SystemExit) as done:
        cli.main(["phases", "pr", "--format", "json"])
    assert done.value.code == 0
    out = json.loads(capsys.readouterr().out)
    (pr,) = out["phases"]
    assert pr["name"] == "pr" and pr["rollout"] is False and "load" in pr["suites"]
    p95 = next(g for g in pr["gates"] if g["id"] == "load.p95_ms")
    assert p95["op"] == "<" and p95["threshold"] == 2000 and p95["threshold_text"] == "< 2000"


def test_a_long_run_is_thinned_to_a_bounded_number_of_points_keeping_both_ends():
    from harness.report.charts import MAX_POINTS, Series, line_chart, thin

    points = [(float(t), float(t % 7)) for t in range(3600)]
    kept = thin(points)
    assert len(kept) == MAX_POINTS and kept[0] == points[0] and kept[-1] == points[-1]
    svg = line_chart("t", "s", "ms", [Series("p95", points)])
    assert svg is not None and len(re.findall(r'<circle[^>]*class="dot ', svg)) == MAX_POINTS
    assert line_chart("t", "s", "ms", [Series("p95", [])]) is None


def test_the_live_section_shows_the_canary_judge_metric_by_metric_and_the_watch_rounds(tmp_path):
    doc = verdict("no-go")
    doc["scope"]["evaluated"].append("live")
    live = tmp_path / "live"
    live.mkdir(parents=True)
    (live / "canary.json").write_text(
        json.dumps(
            {
                "score": 0.0,
                "decision": "no-go",
                "metrics": [f"chat_latency_s: High (candidate median 0.31, baseline 0.20; token {SECRET})"],
                "queries": ['avg(rate(http_request_duration_seconds_sum{track="candidate"}[5s]))'],
            }
        )
    )
    rounds = [
        {"round": 1, "status": "clean", "values": "p95_s 0.1", "in_a_row": 0},
        {"round": 2, "status": "breach", "breached": ["live.websocket_connections"], "values": "ws 950", "in_a_row": 1},
    ]
    (live / "watch.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rounds) + "{not json\n")
    page = render_html(doc, tmp_path, [SECRET], None)
    section = page[page.index('id="live"') :]
    assert "score <strong>0</strong> (no-go)" in section and "chat_latency_s: High" in section
    assert "watch round 2: BREACH live.websocket_connections" in section and "watch round 1: clean" in section
    assert SECRET not in page
    assert 'id="live"' not in render_html(verdict("go"), tmp_path, [], None)  # the live suite did not run


def test_the_load_section_shows_the_generators_cpu_beside_the_throughput(tmp_path):
    write_suite_files(tmp_path)
    limited = "the load generator, not the service, was the limit (worker 2: CPU 97 %; Locust's limit is 90 %)"
    series = [
        {"t": t, "cpu": {"worker 1": 20.0 + t, "worker 2": 90.0 + t}, "wait": {"worker 2": 3.0}} for t in range(5)
    ]
    rows = [
        {"name": "worker 1", "who": "worker 1 (host-a, pid 11)", "cpu_max": 24.0, "cpu_mean": 22.0, "ran_pct": 22.0,
         "waited_pct": 1.0, "users_max": 10, "state": "running"},
        {"name": "worker 2", "who": "worker 2 (host-b, pid 12)", "cpu_max": 97.0, "cpu_mean": 92.0, "ran_pct": 92.0,
         "waited_pct": 3.0, "users_max": 10, "state": "running"},
    ]  # fmt: skip
    generators = {"users_asked": 20, "users_reached": 20, "cpu_threshold": 90.0, "generators": rows, "series": series}
    summary = {"measurements": {"rps": 412.5}, "limited": limited, "missing": None, "generators": generators}
    (tmp_path / "load" / "result.json").write_text(json.dumps({"profile": {"name": "smoke"}, "summary": summary}))
    page = render_html(verdict("go"), tmp_path, [SECRET], None)
    load = page[page.index('id="load"') :]
    assert "throughput and latency not judged: the load generator, not the service, was the limit" in load
    assert "worker 2 (host-b, pid 12)" in load and ">97.0<" in load and "users reached 20 of 20" in load
    assert "achieved 412.5 req/s" in load
    captions = re.findall(r"<figcaption>(.*?)</figcaption>", load)
    at = captions.index("Requests per second over the run")
    assert captions[at + 1].startswith("Load generators: CPU")  # right beside the throughput chart
    cpu_chart = svgs(load)[at + 1]
    assert "worker 2 CPU" in cpu_chart and "worker 2 waiting" in cpu_chart
    assert len(re.findall(r'<circle[^>]*class="dot ', cpu_chart)) >= 15


def test_a_canary_judgement_without_data_shows_no_score_and_the_metrics_without_data(tmp_path):
    doc = verdict("inconclusive")
    doc["scope"]["evaluated"].append("live")
    live = tmp_path / "live"
    live.mkdir(parents=True)
    nodata = {
        "score": None,
        "decision": "inconclusive",
        "nodata": ["chat_latency_s", "error_ratio"],
        "metrics": [],
        "queries": [],
    }
    (live / "canary.json").write_text(json.dumps(nodata))
    section = render_html(doc, tmp_path, [], None).split('id="live"', 1)[1]
    assert (
        "score <strong>none (no metric had data)</strong> (inconclusive; without data: chat_latency_s, error_ratio)"
        in (section)
    )


def test_the_live_section_says_when_the_sequential_judge_decided(tmp_path):
    doc = verdict("no-go")
    doc["scope"]["evaluated"].append("live")
    live = tmp_path / "live"
    live.mkdir(parents=True)
    sequential = {"alpha": 0.01, "decision": "no-go", "window": [100.0, 160.0], "decided_after_s": 12.0}
    (live / "canary.json").write_text(
        json.dumps(
            {
                "score": 0.0,
                "decision": "no-go",
                "metrics": ["error_ratio: High (sequential count, ...)"],
                "queries": [],
                "sequential": {**sequential, "stopped_early": True, "looks": 12},
            }
        )
    )
    section = render_html(doc, tmp_path, [], None)
    assert "Sequential mode (alpha 0.01): no-go 12 s into the 60 s window (stopped early, 12 looks)" in section
