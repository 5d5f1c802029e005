"""Blame the right side: before the suites judge a deployment the harness did not start, check that the
deployment accepts the harness's own credentials. A refused token would otherwise fail smoke, contract and
load checks and read as `no-go` (the build is bad) when it is our configuration that is wrong.

The service profile says where the OpenAPI document is (paths.openapi) and how credentials are carried
(auth: a header with a prefix, a query parameter or a cookie; a static token or a login). Only safe
operations are called (GET/HEAD of the document's secured operations that the run's scope allows), with the
token, once each; nothing is written to the target. A login that fails is the one-line reason.
"""

from __future__ import annotations

from typing import Any

from harness.contract.openapi import fetch_document
from harness.errors import HarnessError
from harness.security.auth import positive_controls
from harness.security.operations import operations
from harness.service.auth import credentials_for
from harness.service.operations import Scope
from harness.service.profile import DEFAULT_PROFILE, ServiceProfile, load_file
from harness.target import Target

SAFE = ("GET", "HEAD")


def _default_profile() -> ServiceProfile:
    return load_file(DEFAULT_PROFILE)


def _token_env(profile: ServiceProfile) -> str:
    """What the user sets to give the harness its token (or the login's variables)."""
    login = profile.auth.login
    if login is not None:
        names = login.env_names()
        return f"the variables its login body reads ({', '.join(names)})" if names else "auth.login"
    return profile.auth.token_env or "HARNESS_TOKEN"


def credentials_problem(
    target: Target, timeout_s: float, profile: ServiceProfile | None = None, scope: Scope | None = None
) -> str | None:
    """None when the target accepts the harness's credentials (or needs none, or says nothing we can check);
    else one line: the harness's credentials were refused (or missing, or its login failed), and what to do."""
    profile = profile or _default_profile()
    if profile.auth.scheme == "none" or not profile.paths.openapi:
        return None  # no credentials, or no document to learn the secured operations from
    try:
        doc: dict[str, Any] = fetch_document(target.url(profile.paths.openapi), timeout_s)
    except HarnessError:
        return None  # no document to learn the secured operations from: the suites will say what they find
    secured = [
        op
        for op in operations(doc)
        if op.secured
        and op.method.upper() in SAFE
        and not (scope is not None and scope.excluded(op.method, op.path, op.spec.get("tags") or ()))
        and not (scope is not None and scope.optional_auth(op.method, op.path))
    ]
    if not secured:
        return None
    creds = credentials_for(
        profile.auth, target.base_url, target_token=target.token, verify=target.ca_file or True, timeout_s=timeout_s
    )
    assert creds is not None
    if not creds.present():
        return (
            f"the harness has no credentials for {target.base_url}: {len(secured)} of its operations require a "
            f"token (e.g. {secured[0].label}); set {_token_env(profile)}"
        )
    try:
        controls = positive_controls(
            doc, target.base_url, target.ws_url, [], creds=creds, timeout_s=timeout_s, methods=SAFE, scope=scope
        )
    except HarnessError as exc:  # the login was refused, unreachable or answered without a token
        login = profile.auth.login
        names = ", ".join(login.env_names()) if login is not None else ""
        where = f" (the {profile.describe()} reads {names})" if names else f" ({profile.describe()})"
        return f"the harness could not log in to {target.base_url}: {exc}{where}"
    if not controls or not all(c.result == "refused" for c in controls):
        return None  # accepted somewhere, or not an auth answer at all: the suites will judge the target
    shown = "; ".join(f"{c.label}: {c.detail}" for c in controls[:3])
    return (
        f"the harness's credentials were refused by {target.base_url} ({shown}): nothing can be judged with them; "
        f"set {_token_env(profile)} to {'credentials' if profile.auth.login else 'a token'} the target accepts"
    )
