"""TLS, for https targets: the certificate chain is valid for the host, it is not expired, at least
tls_min_days (default 14: the guide's "SSL certificates valid") remain, and nothing older than TLS 1.2 is
negotiated or accepted. A plain-http target (the local stack) is not applicable unless require_https."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from harness.errors import HarnessError
from harness.security import tls


@pytest.mark.check("security.tls")
def test_tls_certificate_and_protocol(target, security_opts, reports, waivers, measure):
    opts = security_opts
    parts = urlsplit(target.base_url)
    if parts.scheme != "https":
        if opts.require_https:
            pytest.fail(f"TLS: {target.base_url} is plain http and require_https is set", pytrace=False)
        reports.write("tls.json", {"target": target.base_url, "applicable": False, "reason": "plain-http target"})
        measure(tls_applicable=0)
        return
    try:
        report = tls.inspect(parts.hostname or "", parts.port or 443, cafile=opts.tls_ca_file, timeout_s=opts.timeout_s)
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
        },
    )
    measure(tls_applicable=1, tls_days_left=round(days, 2) if days is not None else -1.0)
    if any(f.blocking for f in findings):
        pytest.fail(f"TLS: {line}", pytrace=False)
