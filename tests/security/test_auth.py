"""Auth: every protected operation of the live OpenAPI document, and the WebSocket, refuses no token, a
malformed token, a token of the wrong scheme and a wrong token with 401/403. Public operations are
listed in [tool.harness.security] public_operations. An anonymous WebSocket may ping (the guide's smoke
test does) but not chat, unless websocket_anonymous = "refuse"."""

from __future__ import annotations

import pytest
import requests

from harness.security.auth import REFUSED, check_http, check_websocket, probe_rows, summary
from harness.security.operations import operations, request_for


@pytest.mark.check("security.auth_failures")
def test_protected_operations_and_websocket_refuse_bad_tokens(
    target, security_opts, live_openapi, reports, waivers, measure
):
    opts = security_opts
    protected = [op for op in operations(live_openapi) if op.secured]
    if target.token:  # control: the harness's own token must get through, or the probes prove nothing
        for op in protected:
            req = request_for(op, live_openapi, target.base_url)
            resp = requests.request(
                req.method,
                req.url,
                json=req.json,
                headers={"Authorization": f"Bearer {target.token}"},
                timeout=opts.timeout_s,
            )
            if resp.status_code in REFUSED:
                pytest.fail(
                    f"security: {op.label} refuses the harness's own token (HTTP {resp.status_code}); "
                    "set HARNESS_TOKEN to a valid token, or the auth probes prove nothing",
                    pytrace=False,
                )
    probes, found = check_http(
        live_openapi, target.base_url, public=set(opts.public_operations), timeout_s=opts.timeout_s
    )
    ws_probes, ws_found = check_websocket(
        target.ws_url, list(opts.websocket_paths), anonymous=opts.websocket_anonymous, timeout_s=opts.timeout_s
    )
    findings = found + ws_found
    everything = probes + ws_probes
    line = reports.finish(
        "auth",
        findings,
        waivers,
        {"protected_operations": [op.label for op in protected], "probes": probe_rows(everything)},
    )
    failures = sum(f.blocking for f in findings)
    measure(auth_failures=failures, auth_probes=len(everything), auth_protected_operations=len(protected))
    if failures:
        pytest.fail(f"auth: {summary(everything)}; {line}", pytrace=False)
