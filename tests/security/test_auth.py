"""Auth: every protected operation of the live OpenAPI document, and the WebSocket (the service profile's
paths.websocket), refuses no token, a malformed token, a token of the wrong scheme and a wrong token with
401/403, each carried as the profile's auth scheme says. Public operations: the profile's
operations.public (plus [tool.harness.security] public_operations); optional-auth operations are not
probed. With a low-privilege identity (auth.low_privilege), every admin-only operation must refuse its
token (auth.role_separation). An anonymous WebSocket may ping (the guide's smoke test does) but not chat,
unless websocket_anonymous = "refuse".

The positive control comes first and is mandatory: for each operation the profile's own identity (a static
token or a login) calls it with the very request the probes then send (real identifiers: the profile's
[examples], an id a listing returned, an object an OpenAPI link's source operation made). A probe is a
finding only when a bad token gets the control's success class (2xx/3xx); an operation whose control was
refused by validation (400/404/409/422), refused its token or failed (5xx) is listed as `unjudged` with the
reason: never a finding, never a pass. At least one control must get through (no token, or every control
refused: `error`, with what to do). On a target the harness did not start, only
the operations the run's scope allows are called; the rest are listed in findings/auth.json `skipped`.
Coverage: probes sent and controls that succeeded; nothing to probe is `missing`."""

from __future__ import annotations

import pytest

from harness.checks import check_error, not_applicable, not_run_if_left_out
from harness.errors import HarnessError
from harness.security.api import (
    ApiCheck,
    check_mass_assignment,
    check_object_authorization,
    check_user_enumeration,
)
from harness.security.auth import (
    HttpCheck,
    RoleCheck,
    check_http,
    check_roles,
    check_websocket,
    control_problem,
    positive_controls,
    probe_rows,
    summary,
)
from harness.security.operations import operations


@pytest.mark.check("security.auth_failures")
def test_protected_operations_and_websocket_refuse_bad_tokens(
    target,
    security_opts,
    service,
    credentials,
    low_credentials,
    scope,
    websocket_paths,
    live_openapi,
    reports,
    waivers,
    measure,
    coverage,
):
    opts = security_opts
    if credentials.scheme == "none":
        not_applicable(f"the {service.describe()} says the service takes no credentials (auth.scheme)")
    if live_openapi is None and not websocket_paths:
        not_applicable(
            f"no OpenAPI document (the {service.describe()} has no paths.openapi and "
            "[tool.harness.security] openapi_url is not set) and no WebSocket path: nothing to probe"
        )
    doc = live_openapi or {"paths": {}}
    protected = [op for op in operations(doc) if op.secured]
    protected_labels = {op.label for op in protected}
    skipped = []
    controls = []
    http = HttpCheck()
    roles = RoleCheck()
    api: list[ApiCheck] = []
    examples = dict(service.examples)
    try:
        if protected or websocket_paths:  # something must accept the real token before refusals mean anything
            if not credentials.present():
                check_error(
                    "security: the auth check needs the harness's own credentials as its positive control: set "
                    f"{service.auth.token_env or 'HARNESS_TOKEN'} to a valid API token of the target "
                    f"(or give auth.login in the {service.describe()})"
                )
        # each operation's positive control runs first, with the very request its probes then send
        http = check_http(
            doc,
            target.base_url,
            creds=credentials,
            public=opts.public_operations,
            timeout_s=opts.timeout_s,
            scope=scope,
            examples=examples,
        )
        ws_controls = positive_controls(
            {"paths": {}},
            target.base_url,
            target.ws_url,
            websocket_paths,
            creds=credentials,
            timeout_s=opts.timeout_s,
            scope=scope,
        )
        controls = [*http.controls, *ws_controls]
        secured_controls = [c for c in controls if c.label.startswith("WS ") or c.label in protected_labels]
        problem = control_problem(secured_controls, credentials)
        if problem:
            reports.write("findings/auth-controls.json", {"controls": [c.row() for c in controls]})
            check_error(f"security: {problem}")
        if low_credentials is not None:
            if not low_credentials.present():
                check_error(
                    f"security: the {service.describe()} has auth.low_privilege, but its token variable "
                    f"{service.auth.low_privilege.token_env} is not set; set it, or remove low_privilege"
                )
            roles = check_roles(
                doc,
                target.base_url,
                admin=credentials,
                low=low_credentials,
                scope=scope,
                timeout_s=opts.timeout_s,
                examples=examples,
            )
            if roles.problem:
                reports.write("findings/auth-controls.json", {"controls": [c.row() for c in controls + roles.controls]})
                check_error(f"security: {roles.problem}")
        # the OWASP API classes that need identities: object-level authorization (two identities), mass
        # assignment (unsafe creates the scope allows), user enumeration (the profile's login; low, reported)
        other = low_credentials if low_credentials is not None and low_credentials.present() else None
        if other is not None:
            api.append(
                check_object_authorization(
                    doc, target.base_url, main=credentials, other=other, scope=scope, timeout_s=opts.timeout_s
                )
            )
        api.append(
            check_mass_assignment(
                doc, target.base_url, creds=other or credentials, scope=scope, timeout_s=opts.timeout_s
            )
        )
        api.append(check_user_enumeration(target.base_url, other or credentials, opts.timeout_s))
    except HarnessError as exc:  # a login refused or unreachable: the harness could not judge
        check_error(f"security: {exc}")
    ws_probes, ws_found = check_websocket(
        target.ws_url, websocket_paths, creds=credentials, anonymous=opts.websocket_anonymous, timeout_s=opts.timeout_s
    )
    findings = http.findings + roles.findings + ws_found + [f for a in api for f in a.findings]
    everything = http.probes + roles.probes + ws_probes
    skipped_rows = {(s.operation, s.reason): s.row() for s in [*skipped, *http.skipped, *roles.skipped]}
    unjudged = [u.row() for u in [*http.unjudged, *roles.unjudged, *(u for a in api for u in a.unjudged)]]
    accepted = sum(c.result == "accepted" for c in controls)
    line = reports.finish(
        "auth",
        findings,
        waivers,
        {
            "protected_operations": [op.label for op in protected],
            "admin_only_operations": roles.admin_operations,
            "controls": [c.row() for c in controls + roles.controls],
            "probes": probe_rows(everything),
            "unjudged": unjudged,
            "identifiers": http.identifiers,
            "api_checks": {a.name: {"judged": a.checked, "requests": a.sent} for a in api},
            "skipped": list(skipped_rows.values()),
            "role_separation": "checked"
            if low_credentials is not None
            else "not checked: the service profile has no auth.low_privilege identity",
            "scope": "everything (the harness started the target)"
            if target.ephemeral
            else ("safe and allowed operations" if not scope.allow_unsafe else "every operation (--allow-unsafe)"),
        },
    )
    failures = sum(f.blocking for f in findings)
    measure(
        auth_failures=failures,
        auth_probes=len(everything),
        auth_protected_operations=len(protected),
        auth_positive_controls=accepted,
        auth_role_probes=len(roles.probes),
        auth_skipped_operations=len(skipped_rows),
        auth_unjudged_operations=len(unjudged),
        auth_api_requests=sum(a.sent for a in api),
    )
    coverage(probes=len(everything))
    if controls:  # with nothing protected there is nothing to control; the probes alone are the evidence
        coverage(positive_controls=accepted)
    if failures:
        pytest.fail(f"auth: {summary(everything)}; {line}", pytrace=False)
    left_out = [
        f"{r['operation']}: {r['reason']}" for r in skipped_rows.values() if _scope_left_out(scope, r["operation"])
    ]
    not_run_if_left_out("the auth probes", left_out)  # nothing found; what the scope kept out is not a pass


def _scope_left_out(scope, label: str) -> bool:
    """Whether the run's scope (not the service) kept this 'METHOD /path' from the probes."""
    method, _, path = label.partition(" ")
    return bool(path) and scope.missed(method, path) is not None
