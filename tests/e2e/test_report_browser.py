"""report.html in a real browser: headless Chromium (Debian's `chromium`, driven by Playwright for Python through
`executable_path`) opens the report a real gate run wrote, go and no-go. The banner and the gate rows are read
from the DOM, every chart must have drawn its points, no request may leave the file, and a screenshot is kept
next to the report."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from .conftest import ROOT

CHROMIUM = ("chromium", "chromium-browser", "google-chrome")
# the checked pages and screenshots, kept for CI's artefacts (not in reports/, which is the gate's own)
KEPT = ROOT / "build" / "e2e-browser"
PR_GATE = ("gate", "--phase", "pr")


def chromium_path() -> str:
    for name in CHROMIUM:
        found = shutil.which(name)
        if found:
            return found
    pytest.fail("no chromium on PATH: `apt-get install chromium` (.ci/run installs it)", pytrace=False)


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=chromium_path(), args=["--no-sandbox", "--disable-gpu"])
        try:
            yield b
        finally:
            b.close()


def keep(reports: Path, name: str) -> None:
    """The report and its screenshot outlive the test's temp dir: build/e2e-browser/<name>/."""
    dest = KEPT / name
    dest.mkdir(parents=True, exist_ok=True)
    for f in ("report.html", "report.png"):
        shutil.copy2(reports / f, dest / f)


def open_report(browser, reports: Path) -> dict:
    """Open reports/report.html; every request is recorded (and anything but the file itself refused)."""
    report = reports / "report.html"
    url = report.resolve().as_uri()
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.route("**/*", lambda route: route.continue_() if route.request.url == url else route.abort())
    page.goto(url, wait_until="load")
    charts = page.eval_on_selector_all(
        "figure.chart svg",
        """els => els.map(svg => {
             const box = svg.getBoundingClientRect();
             const dots = [...svg.querySelectorAll('circle.dot')].filter(c => c.getBoundingClientRect().width > 0);
             return {width: box.width, height: box.height, dots: dots.length,
                     lines: svg.querySelectorAll('path.line').length};
           })""",
    )
    seen = {
        "verdict": page.locator("#verdict").get_attribute("data-verdict"),
        "word": page.locator("#verdict-word").inner_text(),
        "gate_rows": page.locator("#gates tbody tr.gate").count(),
        "statuses": page.eval_on_selector_all("#gates tbody tr.gate", "rs => rs.map(r => r.dataset.status)"),
        "charts": charts,
        "requests": requests,
        "url": url,
        "text": page.inner_text("body"),
    }
    shot = reports / "report.png"
    page.screenshot(path=str(shot), full_page=True)
    seen["screenshot"] = shot
    page.close()
    return seen


def check_page(seen: dict, doc: dict) -> None:
    assert seen["verdict"] == doc["verdict"]
    assert seen["word"] == {"go": "GO", "no-go": "NO-GO", "inconclusive": "INCONCLUSIVE"}[doc["verdict"]]
    assert seen["gate_rows"] == len(doc["gates"]) > 0
    assert seen["statuses"] == [g["status"] for g in doc["gates"]]
    assert seen["requests"] == [seen["url"]], f"the report made requests: {seen['requests']}"
    assert seen["charts"], "the load run's charts are missing"
    for chart in seen["charts"]:
        assert chart["width"] > 100 and chart["height"] > 100, chart
        assert chart["dots"] >= 2 and chart["lines"] >= 1, chart
    shot = seen["screenshot"]
    assert shot.is_file() and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000


def test_a_go_report_in_the_browser(harness, browser):
    run = harness(*PR_GATE, timeout=300)
    assert run.code == 0, run.out + run.err
    doc = run.verdict
    seen = open_report(browser, run.reports)
    check_page(seen, doc)
    keep(run.reports, "go")
    assert "Load" in seen["text"] and "Smoke checks" in seen["text"] and "Security findings" in seen["text"]
    # per endpoint: one latency chart per endpoint of the run, plus the aggregate and the req/s chart
    assert len(seen["charts"]) >= 4, seen["charts"]


def test_a_no_go_report_in_the_browser_shows_the_failing_operation_and_its_curl_line(harness, browser):
    run = harness(*PR_GATE, timeout=300, ORCHESTRA_FAULTS="server_error_on_edge")
    assert run.code == 1, run.out + run.err
    doc = run.verdict
    assert doc["verdict"] == "no-go"
    seen = open_report(browser, run.reports)
    check_page(seen, doc)
    keep(run.reports, "no-go")
    assert "fail" in seen["statuses"]
    text = seen["text"]
    contract = text[text.index("Contract") : text.index("Security findings")]
    assert "curl " in contract and "$HARNESS_TOKEN" in contract, contract[:2000]
    failed = [g for g in doc["gates"] if g["status"] == "fail" and g["id"].startswith("contract.")]
    assert failed and all(g["id"] in text for g in failed)


def test_the_browser_check_catches_a_request_and_an_empty_chart(browser, tmp_path):
    """Negative control of the checks above: a page that loads an image from elsewhere, or whose chart drew
    nothing, must not pass them."""
    doc = {"verdict": "go", "gates": [{"status": "pass"}]}
    head = '<header id="verdict" data-verdict="go"><span id="verdict-word">GO</span></header>'
    row = '<table id="gates"><tbody><tr class="gate" data-status="pass"><td>x</td></tr></tbody></table>'
    chart = '<figure class="chart"><svg width="400" height="300"><path class="line" d="M0 0"/>{}</svg></figure>'
    dots = '<circle class="dot" cx="10" cy="10" r="3"/><circle class="dot" cx="20" cy="20" r="3"/>'
    cases = {
        "fine": chart.format(dots),
        "request": chart.format(dots) + '<img src="http://127.0.0.1:9/pixel.png">',
        "empty": chart.format(""),
    }
    results = {}
    for name, body in cases.items():
        reports = tmp_path / name
        reports.mkdir()
        (reports / "report.html").write_text(f"<!DOCTYPE html><html><body>{head}{row}{body}</body></html>")
        seen = open_report(browser, reports)
        seen["screenshot"].write_bytes(seen["screenshot"].read_bytes() + b"\0" * 10_000)  # size is not the point
        try:
            check_page(seen, doc)
            results[name] = "passed"
        except AssertionError as exc:
            results[name] = str(exc).splitlines()[0]
    assert results["fine"] == "passed"
    assert "the report made requests" in results["request"] and "pixel.png" in results["request"]
    assert results["empty"].startswith("{") and "'dots': 0" in results["empty"]
