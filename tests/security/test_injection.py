"""Injection on safe methods: bounded payloads (SQL, NoSQL, command, path traversal, template) in the string
path and query parameters of every GET of the live OpenAPI document the run's scope allows. Each operation's
control (the same request with real values: the profile's [examples], a listing's ids, an OpenAPI link's
source) runs first; a payload is a finding when its answer is a 5xx, or carries a database error, a stack
trace or the payload's evaluated marker, that the control's did not. GETs only: nothing is written.
Coverage: the operations judged; operations whose control failed are `unjudged` (coverage 0: `missing`,
never a pass); no GET with a string parameter at all is N/A; one the scope or the profile leaves out is
not run."""

from __future__ import annotations

import pytest

from harness.checks import not_applicable, not_run_if_left_out
from harness.security.api import check_injection


@pytest.mark.check("security.injection")
def test_get_parameters_resist_injection(
    target, security_opts, service, credentials, scope, live_openapi, reports, waivers, measure, coverage
):
    if live_openapi is None:
        not_applicable(
            f"no OpenAPI document (the {service.describe()} has no paths.openapi and "
            "[tool.harness.security] openapi_url is not set): no parameters to probe"
        )
    out = check_injection(
        live_openapi,
        target.base_url,
        creds=credentials,
        scope=scope,
        timeout_s=security_opts.timeout_s,
        examples=dict(service.examples),
    )
    if out.candidates == 0 and not out.left_out:
        not_applicable("no GET operation of the service has a string path or query parameter: nothing to inject into")
    if out.candidates == 0:  # there are such operations, and this run left them out: could check, did not
        not_run_if_left_out("the injection probes", out.left_out)
    line = reports.finish(
        "injection",
        out.findings,
        waivers,
        {"operations": out.checked, "unjudged": [u.row() for u in out.unjudged], "requests": out.sent},
    )
    failures = sum(f.blocking for f in out.findings)
    measure(injection_findings=failures, injection_requests=out.sent, injection_unjudged=len(out.unjudged))
    coverage(operations=len(out.checked))
    if failures:
        first = next(f for f in out.findings if f.blocking)
        pytest.fail(
            f"injection: {line}; payload {first.details['payload']!r}; reproduce: {first.details['curl']} "
            f"({reports.dir / 'findings' / 'injection.json'})",
            pytrace=False,
        )
    not_run_if_left_out("the injection probes", out.left_out)  # nothing found; what was kept out is not a pass
