"""Auth: every protected operation of the live OpenAPI document, and the WebSocket, refuses no token, a
malformed token, a token of the wrong scheme and a wrong token with 401/403. Public operations are
listed in [tool.harness.security] public_operations. An anonymous WebSocket may ping (the guide's smoke
test does) but not chat, unless websocket_anonymous = "refuse".

The positive control comes first and is mandatory: the harness's own token must get through at least one
protected operation (or WebSocket path), or the refusals prove nothing (no token, or every control refused:
`error`, with what to do). Coverage: probes sent and controls that succeeded; nothing to probe is `missing`."""

from __future__ import annotations

import pytest

from harness.checks import check_error
from harness.security.auth import (
    check_http,
    check_websocket,
    control_problem,
    positive_controls,
    probe_rows,
    summary,
)
from harness.security.operations import operations


@pytest.mark.check("security.auth_failures")
def test_protected_operations_and_websocket_refuse_bad_tokens(
    target, security_opts, live_openapi, reports, waivers, measure, coverage
):
    opts = security_opts
    protected = [op for op in operations(live_openapi) if op.secured]
    ws_paths = list(opts.websocket_paths)
    controls = []
    if protected or ws_paths:  # something must accept the real token before refusals mean anything
        if not target.token:
            check_error(
                "security: the auth check needs the harness's own token as its positive control: set "
                "HARNESS_TOKEN to a valid API token of the target"
            )
        controls = positive_controls(
            live_openapi, target.base_url, target.ws_url, ws_paths, token=target.token, timeout_s=opts.timeout_s
        )
        problem = control_problem(controls)
        if problem:
            reports.write("findings/auth-controls.json", {"controls": [c.row() for c in controls]})
            check_error(f"security: {problem}")
    probes, found = check_http(
        live_openapi, target.base_url, public=set(opts.public_operations), timeout_s=opts.timeout_s
    )
    ws_probes, ws_found = check_websocket(
        target.ws_url, ws_paths, anonymous=opts.websocket_anonymous, timeout_s=opts.timeout_s
    )
    findings = found + ws_found
    everything = probes + ws_probes
    accepted = sum(c.result == "accepted" for c in controls)
    line = reports.finish(
        "auth",
        findings,
        waivers,
        {
            "protected_operations": [op.label for op in protected],
            "controls": [c.row() for c in controls],
            "probes": probe_rows(everything),
        },
    )
    failures = sum(f.blocking for f in findings)
    measure(
        auth_failures=failures,
        auth_probes=len(everything),
        auth_protected_operations=len(protected),
        auth_positive_controls=accepted,
    )
    coverage(probes=len(everything))
    if controls:  # with nothing protected there is nothing to control; the probes alone are the evidence
        coverage(positive_controls=accepted)
    if failures:
        pytest.fail(f"auth: {summary(everything)}; {line}", pytrace=False)
