"""Blame the right side: before the suites judge a deployment the harness did not start, check that the
deployment accepts the harness's own credentials. A refused token would otherwise fail smoke, contract and
load checks and read as `no-go` (the build is bad) when it is our configuration that is wrong.

Only safe operations are called (GET/HEAD of the live OpenAPI document's secured operations), with the
token, once each; nothing is written to the target.
"""

from __future__ import annotations

from typing import Any

from harness.contract.openapi import fetch_document
from harness.errors import HarnessError
from harness.security.auth import positive_controls
from harness.security.operations import operations
from harness.target import Target

SAFE = ("GET", "HEAD")


def credentials_problem(target: Target, timeout_s: float) -> str | None:
    """None when the target accepts the harness's token (or needs none, or says nothing we can check);
    else one line: the harness's credentials were refused (or missing), and what to do."""
    try:
        doc: dict[str, Any] = fetch_document(target.url("/openapi.json"), timeout_s)
    except HarnessError:
        return None  # no document to learn the secured operations from: the suites will say what they find
    secured = [op for op in operations(doc) if op.secured and op.method.upper() in SAFE]
    if not secured:
        return None
    if not target.token:
        return (
            f"the harness has no credentials for {target.base_url}: {len(secured)} of its operations require a "
            "token (e.g. " + secured[0].label + "); set HARNESS_TOKEN"
        )
    controls = positive_controls(
        doc, target.base_url, target.ws_url, [], token=target.token, timeout_s=timeout_s, methods=SAFE
    )
    if not controls or not all(c.result == "refused" for c in controls):
        return None  # accepted somewhere, or not an auth answer at all: the suites will judge the target
    shown = "; ".join(f"{c.label}: {c.detail}" for c in controls[:3])
    return (
        f"the harness's credentials were refused by {target.base_url} ({shown}): nothing can be judged with them; "
        "set HARNESS_TOKEN to a token the target accepts"
    )
