"""TLS, for https targets: the certificate chain is valid for the host, it is not expired, at least
tls_min_days (default 14: the guide's "SSL certificates valid") remain, and nothing older than TLS 1.2 is
negotiated or accepted. A plain-http target on loopback (the local stack) is not applicable unless
require_https; a plain-http target anywhere else fails: a staging or production deployment without TLS
is itself a finding."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from harness.checks import check_error, not_applicable
from harness.errors import HarnessError
from harness.net import is_loopback
from harness.security import tls


@pytest.mark.check("security.tls")
def test_tls_certificate_and_protocol(target, security_opts, reports, waivers, measure):
    opts = security_opts
    parts = urlsplit(target.base_url)
    if parts.scheme != "https":
        if opts.require_https:
            pytest.fail(f"TLS: {target.base_url} is plain http and require_https is set", pytrace=False)
        if is_loopback(target.base_url):
            reason = f"plain-http loopback target {target.base_url}: no TLS to check (require_https demands it)"
            reports.write("tls.json", {"target": target.base_url, "applicable": False, "reason": reason})
            not_applicable(reason)
        finding = tls.plain_http_finding(target.base_url)
        line = reports.finish("tls", [finding], waivers, {"applicable": True, "protocol": None})
        measure(tls_applicable=1)
        if finding.blocking:
            pytest.fail(
                f"TLS: {target.base_url} serves plain http; staging/production must use TLS ({line})", pytrace=False
            )
        return
    ca_file = tls.ca_file_for(opts.tls_ca_file, target)
    try:
        report = tls.inspect(parts.hostname or "", parts.port or 443, cafile=ca_file, timeout_s=opts.timeout_s)
    except tls.TLSUnreachable as exc:
        check_error(f"security: {exc}")
    except HarnessError as exc:
        pytest.fail(f"security: {exc}", pytrace=False)
    findings = tls.findings(report, min_days=opts.tls_min_days, url=target.base_url)
    days = report.days_left()
    line = reports.finish(
        "tls",
        findings,
        waivers,
        {
            "protocol": report.protocol,
            "not_after": report.not_after.isoformat() if report.not_after else None,
            "days_left": days,
            "old_protocols_tested": report.old_protocols_tested,
            "ca_file": str(ca_file) if ca_file else None,
        },
    )
    measure(tls_applicable=1, tls_days_left=round(days, 2) if days is not None else -1.0)
    if any(f.blocking for f in findings):
        pytest.fail(f"TLS: {line}", pytrace=False)
