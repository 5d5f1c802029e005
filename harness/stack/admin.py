"""Switch a running app's faults at run time through its admin endpoint (app/admin.py), so one stack serves
a whole fault matrix: `set_faults(target, "chat_5xx")`, run a suite, `set_faults(target, "")`.

Only an app started with an admin secret has the endpoint: the local and containers stacks make one per
run (Target.admin_token); an external target has one only when HARNESS_ADMIN_TOKEN names it.
"""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request
from typing import Any

from harness.errors import StackError
from harness.target import Target

PATH = "/__harness/faults"


def _context(target: Target) -> ssl.SSLContext | None:
    """https: verify with the target's CA; a throwaway stack of this run is trusted as it is (its
    certificate may be expired on purpose)."""
    if not target.base_url.startswith("https://"):
        return None
    if target.ephemeral:
        context = ssl.create_default_context(cafile=target.ca_file)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    return ssl.create_default_context(cafile=target.ca_file)


def _call(target: Target, method: str, body: dict[str, Any] | None, timeout_s: float) -> dict[str, Any]:
    url = target.url(PATH)
    if not target.admin_token:
        raise StackError(
            f"{target.base_url} cannot switch faults at run time: no admin token (only a stack the harness "
            "starts has one; for `harness up` + --target, export the HARNESS_ADMIN_TOKEN it printed)"
        )
    request = urllib.request.Request(  # noqa: S310 - the target's own http(s) URL
        url,
        data=None if body is None else json.dumps(body).encode(),
        method=method,
        headers={"Authorization": f"Bearer {target.admin_token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout_s, context=_context(target)) as resp:  # noqa: S310
            return dict(json.loads(resp.read() or b"{}"))
    except urllib.error.HTTPError as err:
        try:
            detail = str(json.loads(err.read()).get("detail", ""))
        except (ValueError, AttributeError, OSError):
            detail = ""
        if err.code == 404:
            raise StackError(
                f"{target.base_url} has no admin endpoint ({method} {PATH} answered 404): the app was not started "
                "with an admin secret (ORCHESTRA_ADMIN_TOKEN)"
            ) from None
        if err.code in (401, 403):
            refused = f"{method} {PATH} answered {err.code}"
            raise StackError(f"{target.base_url} refused the admin token ({refused})") from None
        raise StackError(f"{method} {target.url(PATH)} answered {err.code}: {detail or err.reason}") from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise StackError(f"{method} {url} failed: {type(reason).__name__}: {reason}") from None


def set_faults(target: Target, faults: str, timeout_s: float = 10.0) -> None:
    """Replace the target's active faults with `faults` (ORCHESTRA_FAULTS syntax; "" = clean) and return once
    every worker process runs them; StackError (one line) when the target has no admin endpoint or refuses."""
    _call(target, "PUT", {"faults": faults}, timeout_s)


def get_faults(target: Target, timeout_s: float = 10.0) -> str:
    """The target's active faults ("" when clean), as the worker process that answers runs them."""
    return str(_call(target, "GET", None, timeout_s).get("faults", ""))
