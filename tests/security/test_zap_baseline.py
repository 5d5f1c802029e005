"""The guide's ZAP baseline scan, three ways into one output: the native passive rules (always), a running
ZAP daemon (ZAP_API_URL), and an existing zap-baseline JSON report (HARNESS_ZAP_REPORT / --zap-report).
The rules file decides: FAIL blocks (security.zap_fail counts those rules), WARN and INFO are reported.

Requests carry the service profile's credentials; on a target the harness did not start only the operations
the run's scope allows are sent (safe methods unless --allow-unsafe / operations.unsafe_allowed; exclusions
always), and findings/zap.json lists the rest with the reason."""

from __future__ import annotations

import pytest

from harness import __version__
from harness.checks import check_error, not_run_if_left_out
from harness.errors import HarnessError
from harness.security.passive import collect, scan
from harness.security.rules import load_rules
from harness.security.zap_client import zap_scan
from harness.security.zap_report import findings_from_alerts, read_report, to_report
from harness.service.operations import DROPPED

REPORT = "zap-report.json"


@pytest.mark.check("security.zap_fail")
def test_zap_baseline(
    target,
    security_opts,
    service,
    credentials,
    scope,
    live_openapi,
    openapi_url,
    reports,
    waivers,
    measure,
    coverage,
):
    opts = security_opts
    try:
        rules = load_rules(opts.rules_file)
    except HarnessError as exc:
        check_error(f"security: {exc}")

    entry_paths = list(opts.entry_paths)
    if service.paths.health and service.paths.health not in entry_paths:
        entry_paths.append(service.paths.health)
    remote_doc = openapi_url is not None and openapi_url.startswith(("http://", "https://"))
    try:
        crawl = collect(
            target.base_url,
            live_openapi,
            creds=credentials,
            entry_paths=entry_paths,
            extra_urls=[openapi_url] if remote_doc else [],
            timeout_s=opts.timeout_s,
            max_pages=opts.max_pages,
            scope=scope,
        )
    except HarnessError as exc:  # a login refused or unreachable: the scan could not carry credentials
        check_error(f"security: {exc}")
    if not crawl.exchanges:
        check_error(f"native passive scan: {target.base_url} answered no request ({'; '.join(crawl.failures[:3])})")
    alerts = scan(crawl.exchanges)
    sources = {
        "native": {
            "requests": crawl.responses,
            "pages": crawl.pages,
            "failures": len(crawl.failures),
            "unanswered_or_unparsed": crawl.failures[:50],
            "operations_not_called": crawl.skipped,
        }
    }
    problem = None
    try:
        if opts.zap_api_url:
            result = zap_scan(
                opts.zap_api_url,
                opts.zap_api_key,
                target_url=opts.zap_target_url or target.base_url,
                openapi_url=openapi_url,
                auth_header=next(iter(credentials.headers().items()), None) if credentials.present() else None,
                timeout_s=opts.zap_timeout_s,
                request_timeout_s=opts.timeout_s,
                safe_only=not scope.ephemeral and not scope.allow_unsafe,
            )
            alerts += result.alerts
            reports.write("zap-daemon.json", result.report_json)
            sources["zap"] = {
                "api": opts.zap_api_url,
                "version": result.version,
                "spidered": result.spider_urls,
                "notes": result.notes,
            }
        if opts.zap_report is not None:
            ingested = read_report(opts.zap_report)
            alerts += ingested
            sources["zap-report"] = {"file": str(opts.zap_report), "alerts": len(ingested)}
    except HarnessError as exc:
        problem = str(exc)
    reports.write(REPORT, to_report(alerts, program="ZAP baseline (ai-orchestra-harness)", version=__version__))
    if problem:  # a source the user asked for could not be read: the check could not judge (error)
        check_error(f"security: {problem}")

    findings = findings_from_alerts(alerts, rules)
    summary = reports.finish("zap", findings, waivers, {"rules": rules.source, "sources": sources})
    fail_rules = sorted({f.rule_id for f in findings if f.blocking})
    measure(
        zap_fail=len(fail_rules),
        zap_warn=len({f.rule_id for f in findings if f.level == "WARN"}),
        zap_new_fail=len({f.rule_id for f in findings if f.blocking and f.new}),
        zap_requests=crawl.responses,
        zap_crawl_failures=len(crawl.failures),  # requests unanswered, pages parsed only in part (findings/zap.json)
    )
    coverage(pages=crawl.pages, responses=crawl.responses)
    if fail_rules:
        pytest.fail(
            f"ZAP baseline: {summary} ({reports.dir / REPORT}; rules {rules.source})",
            pytrace=False,
        )
    missed = [s for s in crawl.skipped if not s.endswith(DROPPED)]  # the team's policy dropped the others
    not_run_if_left_out("the passive scan", missed)  # every response scanned passed; what was kept out is not a pass
