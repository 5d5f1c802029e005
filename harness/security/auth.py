"""Auth checks: every protected operation (from the OpenAPI security requirements) must answer 401 or 403
to no token, a malformed token, a token of the wrong scheme and a wrong token (the service profile's
Credentials.bad_variants(), carried as its auth scheme says); so must the WebSocket handshake (the
profile's paths.websocket) to a malformed or wrong token. An operation that declares no security
requirement must be marked public (profile operations.public, or the security option public_operations),
or refuse an anonymous request all the same. Optional-auth operations are not probed for refusal.

Role separation: with a low-privilege identity in the profile (auth.low_privilege), every admin-only
operation must refuse its token (401/403), and the admin token must get through at least one of them.

On a target the harness did not start, only the operations the run's Scope allows are called (safe methods
unless --allow-unsafe or operations.unsafe_allowed; exclusions always); what was left out is listed.

The WebSocket and the guide's smoke test: the guide connects WITHOUT a token and sends a ping, so an
anonymous socket may be allowed to open (websocket_anonymous = "ping-only", the default). It must then
refuse to chat: a chat frame gets an error frame, never a reply. With websocket_anonymous = "refuse"
the anonymous handshake must be refused too.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import requests

from harness.http import DeadlineSession, ws_connect
from harness.security.findings import Finding, url_key
from harness.security.identifiers import Identifiers
from harness.security.operations import PROBE, Operation, ProbeRequest, operations, request_for
from harness.service.auth import Credentials
from harness.service.operations import Scope
from harness.service.profile import Operations

REFUSED = (401, 403)
VALIDATION = (400, 404, 409, 422)  # the right token's request refused before (or whatever) auth decided
Parts = dict[str, dict[str, str]]
NO_PARTS: Parts = {"headers": {}, "params": {}, "cookies": {}}


def everything_allowed() -> Scope:
    """The scope of a harness-started target with no markings: every operation may be called."""
    return Scope(Operations(), ephemeral=True, allow_unsafe=True)


@dataclass(slots=True)
class Probe:
    """One request the auth check sent and what came back."""

    label: str  # "GET /chat/v2/sessions/{session_id}/messages"
    variant: str
    status: int | None
    ok: bool
    detail: str
    url: str = ""
    method: str = ""


@dataclass(frozen=True, slots=True)
class Skipped:
    """An operation the auth check did not call (or not probe for refusal), and why."""

    operation: str
    reason: str

    def row(self) -> dict[str, str]:
        return {"operation": self.operation, "reason": self.reason}


@dataclass(frozen=True, slots=True)
class Unjudged:
    """An operation whose probes were not judged: its positive control did not succeed, so no answer to a bad
    token could be told apart from the service refusing the request for another reason. Never a finding,
    never a pass: coverage that is missing, with the reason."""

    operation: str
    reason: str
    status: int | None

    def row(self) -> dict[str, Any]:
        return {"operation": self.operation, "status": self.status, "reason": self.reason}


def success_class(status: int | None) -> int | None:
    """2 or 3 for an answer that is a success of the request (2xx, 3xx); None for anything else."""
    return status // 100 if status is not None and 200 <= status < 400 else None


def unjudged_reason(c: Control) -> str | None:
    """Why the probes of this control's operation cannot be judged (None: they can)."""
    if c.result == "refused":
        return f"the right token was refused ({c.detail}): the refusals of bad tokens would prove nothing"
    if c.result == "broken":
        return f"the right token's request failed ({c.detail}): fix the operation, then its auth can be judged"
    if c.status in VALIDATION:
        return (
            f"the right token's request was refused by validation ({c.detail}): give a real value for its "
            "parameters in the profile's [examples] (or let a listing return one)"
        )
    if success_class(c.status) is None:
        return f"the right token's request got no success ({c.detail})"
    return None


def _finding(p: Probe, title: str, rule: str | None = None) -> Finding:
    return Finding(
        source="auth",
        rule_id=rule or f"auth.{p.variant.replace(' ', '_')}",
        title=title,
        severity="high",
        level="FAIL",
        method=p.method,
        url=p.url,
        evidence=p.detail[:300],
        key=f"{p.label}|{p.variant}",
        details={"status": p.status, "operation": p.label},
    )


@dataclass(slots=True)
class Control:
    """A positive control: one protected operation (or WebSocket path) called with a real token.

    accepted: answered, and not with 401/403 or a server error, so auth let the real token through;
    refused: 401/403 (the token is not valid here); broken: no answer or a 5xx (not an auth answer at all)."""

    label: str
    result: str  # accepted | refused | broken
    status: int | None
    detail: str
    identity: str = "harness"  # harness (the profile's main identity) | low-privilege

    def row(self) -> dict[str, Any]:
        return {
            "operation": self.label,
            "identity": self.identity,
            "result": self.result,
            "status": self.status,
            "detail": self.detail,
        }


def _judge_control(label: str, status: int | None, detail: str, identity: str = "harness") -> Control:
    if status in REFUSED:
        return Control(label, "refused", status, detail, identity)
    if status is None or status >= 500:
        return Control(label, "broken", status, detail, identity)
    return Control(label, "accepted", status, detail, identity)


def _tags(op: Operation) -> list[str]:
    tags = op.spec.get("tags") or []
    return [str(t) for t in tags] if isinstance(tags, list) else []


def request(session: requests.Session, req: ProbeRequest, parts: Parts, timeout_s: float) -> requests.Response | None:
    """One request carrying exactly `parts` (no cookie kept from an earlier answer); None: no answer."""
    session.cookies.clear()
    try:
        return session.request(
            req.method,
            req.url,
            json=req.json,
            headers=parts["headers"],
            params=parts["params"] or None,
            cookies=parts["cookies"] or None,
            timeout=timeout_s,
            allow_redirects=False,
        )
    except requests.RequestException:
        return None


def _send(session: requests.Session, req: ProbeRequest, parts: Parts, timeout_s: float) -> tuple[int | None, str]:
    """(status or None, detail) of one request carrying exactly `parts` (no cookie kept from an earlier answer)."""
    session.cookies.clear()
    try:
        resp = session.request(
            req.method,
            req.url,
            json=req.json,
            headers=parts["headers"],
            params=parts["params"] or None,
            cookies=parts["cookies"] or None,
            timeout=timeout_s,
            allow_redirects=False,
        )
    except requests.RequestException as exc:
        return None, f"no answer ({type(exc).__name__})"
    return resp.status_code, f"HTTP {resp.status_code}"


def _control(
    session: requests.Session, req: ProbeRequest, creds: Credentials, timeout_s: float, identity: str
) -> Control:
    """Call with the identity's current token; a refused login token is renewed and tried once more."""
    status, detail = _send(session, req, creds.parts(), timeout_s)
    if status in REFUSED and creds.source is not None and creds.source.login is not None:
        creds.source.invalidate()
        status, detail = _send(session, req, creds.parts(), timeout_s)
    return _judge_control(req.label, status, detail, identity)


def _ws_url(ws_base: str, template: str, session_id: str) -> str:
    path = template.replace("{user_id}", PROBE).replace("{session_id}", session_id)
    return f"{ws_base.rstrip('/')}/{path.lstrip('/')}"


def _ws_parts(url: str, parts: Parts) -> tuple[list[str], str]:
    """(handshake headers, URL) carrying parts: a cookie as a Cookie header, a query parameter in the URL."""
    headers = [f"{k}: {v}" for k, v in parts["headers"].items()]
    if parts["cookies"]:
        headers.append("Cookie: " + "; ".join(f"{k}={v}" for k, v in parts["cookies"].items()))
    if parts["params"]:
        url = url + ("&" if "?" in url else "?") + urlencode(parts["params"])
    return headers, url


def positive_controls(
    doc: dict[str, Any],
    base_url: str,
    ws_base: str,
    ws_paths: list[str],
    *,
    creds: Credentials,
    timeout_s: float,
    methods: tuple[str, ...] | None = None,
    scope: Scope | None = None,
    skipped: list[Skipped] | None = None,
) -> list[Control]:
    """Call every protected operation the scope allows (of `methods`, default all), and open every WebSocket
    path, with the real token: the probes prove something only where the real token gets through.
    Optional-auth operations are no controls (they answer any token). Operations the scope leaves out are
    added to `skipped`."""
    scope = scope or everything_allowed()
    out: list[Control] = []
    with DeadlineSession(timeout_s) as session:  # each exchange bounded end to end
        for op in operations(doc):
            if not op.secured or (methods is not None and op.method not in methods):
                continue
            if scope.optional_auth(op.method, op.path):
                continue
            reason = scope.excluded(op.method, op.path, _tags(op))
            if reason:
                if skipped is not None:
                    skipped.append(Skipped(op.label, reason))
                continue
            out.append(_control(session, request_for(op, doc, base_url), creds, timeout_s, "harness"))
    for template in ws_paths:
        headers, url = _ws_parts(_ws_url(ws_base, template, "auth-control"), creds.parts())
        status, ws, detail = _ws_handshake(url, headers, timeout_s)
        if ws is not None:
            ws.close()
            out.append(Control(f"WS {template}", "accepted", 101, detail))
        elif status is not None:
            out.append(_judge_control(f"WS {template}", status, detail))
        else:
            out.append(Control(f"WS {template}", "broken", None, detail))
    return out


def _token_hint(creds: Credentials | None) -> str:
    """What to fix when the target refuses an identity's token."""
    if creds is None or creds.source is None:
        return "set HARNESS_TOKEN to a token the target accepts"
    low = creds.source.label != "token"
    ident = creds.auth.low_privilege if low else creds.auth.identity
    login = creds.source.login
    if login is not None:
        names = ", ".join(login.variables()) or "its body"
        return f"check the {'low-privilege ' if low else ''}login ({login.method} {login.path}) credentials: {names}"
    name = (ident.token_env if ident is not None else None) or "HARNESS_TOKEN"
    return f"set {name} to a token the target accepts"


def control_problem(controls: list[Control], creds: Credentials | None = None) -> str | None:
    """None when at least one control accepted the real token; else why the probes would prove nothing,
    and what to do, in one line."""
    if any(c.result == "accepted" for c in controls):
        return None
    if not controls:
        return None
    refused = [c for c in controls if c.result == "refused"]
    broken = [c for c in controls if c.result == "broken"]
    shown = "; ".join(f"{c.label}: {c.detail}" for c in (broken or refused)[:3])
    if broken:
        return (
            f"no positive control succeeded, and not for an auth reason ({shown}): the target failed the real "
            "token's requests, so the auth probes would prove nothing; fix the target (or its readiness) and run again"
        )
    return (
        f"every protected operation refused the harness's own token ({shown}): the auth probes would prove "
        f"nothing; {_token_hint(creds)}"
    )


@dataclass(slots=True)
class HttpCheck:
    """What the HTTP auth probes did: probes, findings, the per-operation controls, what was not judged."""

    probes: list[Probe] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    controls: list[Control] = field(default_factory=list)
    unjudged: list[Unjudged] = field(default_factory=list)
    identifiers: dict[str, str] = field(default_factory=dict)  # operation -> where its path values came from


def identifiers_for(
    session: requests.Session,
    doc: dict[str, Any],
    base_url: str,
    scope: Scope,
    examples: dict[str, Any] | None,
    timeout_s: float,
) -> Identifiers:
    return Identifiers(
        doc,
        base_url,
        examples={k: str(v) for k, v in (examples or {}).items()},
        scope=scope,
        send=lambda req, parts: request(session, req, parts, timeout_s),
    )


def _judge(
    session: requests.Session,
    op: Operation,
    ids: Identifiers,
    creds: Credentials,
    variants: list[tuple[str, Parts]],
    timeout_s: float,
    out: HttpCheck,
    *,
    identity: str = "harness",
    rule: str | None = None,
    title: str = "",
) -> None:
    """The control first (the right token, real identifiers), then each variant with the same request (a DELETE
    gets a fresh object each time); a variant is a finding only when it gets the control's success class."""
    fresh = op.method == "DELETE"
    req = ids.request(op, creds.parts(), fresh=fresh)
    control = _control(session, req, creds, timeout_s, identity)
    out.controls.append(control)
    reason = unjudged_reason(control)
    if reason:
        out.unjudged.append(Unjudged(op.label, reason, control.status))
        return
    for variant, parts in variants:
        if fresh:
            req = ids.request(op, creds.parts(), fresh=True)
        status, detail = _send(session, req, parts, timeout_s)
        found = success_class(status) == success_class(control.status)
        p = Probe(op.label, variant, status, not found, detail, req.url, req.method)
        out.probes.append(p)
        if not found:
            continue
        what = (
            title.format(status=status)
            if title
            else (f"answered {status} with {variant}" if op.secured else f"answered {status} without a token")
        )
        suffix = f" (the right token got {control.status}; expected 401/403)"
        if not op.secured and not title:
            suffix += (
                ": declares no security requirement and is not marked public (operations.public / public_operations)"
            )
        out.findings.append(_finding(p, what + suffix, rule))


def check_http(
    doc: dict[str, Any],
    base_url: str,
    *,
    creds: Credentials,
    public: Iterable[str] = (),
    timeout_s: float,
    scope: Scope | None = None,
    examples: dict[str, Any] | None = None,
) -> HttpCheck:
    """Probe every operation that is protected, or unprotected without being marked public, with the
    credentials the profile's scheme makes bad, each judged against its positive control; optional-auth
    operations and those the scope leaves out are returned as skipped, with the reason, and operations whose
    control did not succeed as unjudged."""
    scope = scope or everything_allowed()
    public = set(public)
    out = HttpCheck()
    with DeadlineSession(timeout_s) as session:  # each exchange bounded end to end
        ids = identifiers_for(session, doc, base_url, scope, examples, timeout_s)
        for op in operations(doc):
            if not op.secured and (op.label in public or scope.public(op.method, op.path)):
                continue
            if scope.optional_auth(op.method, op.path):
                out.skipped.append(
                    Skipped(op.label, "optional-auth (operations.optional_auth): not probed for refusal")
                )
                continue
            reason = scope.excluded(op.method, op.path, _tags(op))
            if reason:
                out.skipped.append(Skipped(op.label, reason))
                continue
            variants = creds.bad_variants() if op.secured else [("no token", NO_PARTS)]
            _judge(session, op, ids, creds, variants, timeout_s, out)
        out.identifiers = dict(ids.sources)
    return out


@dataclass(slots=True)
class RoleCheck:
    """Role separation: the low-privilege token on every admin-only operation, and the controls."""

    probes: list[Probe] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    controls: list[Control] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    admin_operations: list[str] = field(default_factory=list)
    unjudged: list[Unjudged] = field(default_factory=list)
    problem: str | None = None  # the check would prove nothing (a control failed): why, and what to do


def check_roles(
    doc: dict[str, Any],
    base_url: str,
    *,
    admin: Credentials,
    low: Credentials,
    scope: Scope,
    timeout_s: float,
    examples: dict[str, Any] | None = None,
) -> RoleCheck:
    """Every admin-only operation (profile operations.admin_only) the scope allows must refuse the
    low-privilege token with 401/403 (else an `auth.role_separation` finding). Controls: the low-privilege
    token gets through a protected operation that is not admin-only (so the refusals are about its role,
    not a dead token), and the admin token gets through at least one admin-only operation."""
    out = RoleCheck()
    ops = operations(doc)
    admin_ops, other_ops = [], []
    for op in ops:
        reason = scope.excluded(op.method, op.path, _tags(op))
        if scope.admin_only(op.method, op.path):
            out.admin_operations.append(op.label)
            if reason:
                out.skipped.append(Skipped(op.label, f"role separation: {reason}"))
            else:
                admin_ops.append(op)
        elif op.secured and not reason and not scope.optional_auth(op.method, op.path):
            other_ops.append(op)
    if not admin_ops:
        return out
    with DeadlineSession(timeout_s) as session:  # each exchange bounded end to end
        ids = identifiers_for(session, doc, base_url, scope, examples, timeout_s)
        low_controls: list[Control] = []
        for op in other_ops:  # the first that accepts the low-privilege token is enough
            req = ids.request(op, low.parts())
            low_controls.append(_control(session, req, low, timeout_s, "low-privilege"))
            if low_controls[-1].result == "accepted":
                break
        out.controls += low_controls
        if low_controls and not any(c.result == "accepted" for c in low_controls):
            shown = "; ".join(f"{c.label}: {c.detail}" for c in low_controls[:3])
            out.problem = (
                f"the low-privilege identity's token was refused by every protected operation that is not "
                f"admin-only ({shown}): role separation would prove nothing; {_token_hint(low)}"
            )
            return out
        judged = HttpCheck()
        for op in admin_ops:
            _judge(
                session,
                op,
                ids,
                admin,
                [("low-privilege token", low.parts())],
                timeout_s,
                judged,
                rule="auth.role_separation",
                title="admin-only operation answered {status} to the low-privilege token",
            )
        out.probes += judged.probes
        out.findings += judged.findings
        out.unjudged += judged.unjudged
        out.controls += judged.controls
        if not any(c.result == "accepted" for c in judged.controls):
            shown = "; ".join(f"{c.label}: {c.detail}" for c in judged.controls[:3])
            out.problem = (
                f"the harness's own token got through no admin-only operation ({shown}): role separation would "
                f"prove nothing; the main identity must be an admin ({_token_hint(admin)})"
            )
    return out


def _ws_handshake(url: str, headers: list[str], timeout_s: float) -> tuple[int | None, Any, str]:
    """(HTTP status of a refused handshake or None, the open socket or None, detail)."""
    import websocket

    try:
        ws = ws_connect(url, deadline_s=timeout_s * 3, header=headers, timeout=timeout_s)  # a trickle included
    except websocket.WebSocketBadStatusException as exc:
        return exc.status_code, None, f"handshake refused with HTTP {exc.status_code}"
    except (OSError, websocket.WebSocketException) as exc:
        return None, None, f"handshake failed ({type(exc).__name__}: {str(exc)[:120]})"
    return None, ws, "handshake accepted"


def _closed_promptly(ws: Any, timeout_s: float) -> str | None:
    """After an accepted handshake: the close code if the server closes before sending any frame."""
    import websocket

    try:
        ws.settimeout(min(timeout_s, 2.0))
        opcode, data = ws.recv_data(control_frame=True)
    except websocket.WebSocketTimeoutException:
        return None
    except (OSError, websocket.WebSocketException):
        return "connection dropped"
    if opcode == websocket.ABNF.OPCODE_CLOSE:
        code = int.from_bytes(data[:2], "big") if len(data) >= 2 else 1005
        return f"closed with {code} after accepting the handshake"
    return None


def check_websocket(
    ws_base: str, paths: list[str], *, creds: Credentials, anonymous: str, timeout_s: float
) -> tuple[list[Probe], list[Finding]]:
    """Wrong and malformed tokens (carried as the profile's scheme says, and a wrong ?token= query value)
    must be refused in the handshake (401/403); an anonymous socket must be refused ("refuse") or must not
    be able to chat ("ping-only"). A token of the wrong scheme is not sent: to a socket it is an anonymous
    one, which the last probe covers."""
    probes: list[Probe] = []
    found: list[Finding] = []
    for template in paths:
        url = _ws_url(ws_base, template, "auth-probe")
        label = f"WS {template}"
        bad = [
            (variant, *_ws_parts(url, parts))
            for variant, parts in creds.bad_variants()
            if variant in ("malformed token", "wrong token")
        ]
        if creds.scheme != "query":
            bad.append(("wrong query token", [], f"{url}?token={secrets.token_urlsafe(24)}"))
        for variant, headers, where in bad:
            status, ws, detail = _ws_handshake(where, headers, timeout_s)
            if ws is not None:
                closed = _closed_promptly(ws, timeout_s)
                ws.close()
                detail = f"handshake accepted, then {closed}" if closed else "handshake accepted; socket stayed open"
            ok = status in REFUSED
            p = Probe(label, variant, status, ok, detail, url.split("?")[0], "WS")
            probes.append(p)
            if not ok:
                found.append(_finding(p, f"{variant} not refused in the handshake ({detail}; expected 401/403)"))
        status, ws, detail = _ws_handshake(url, [], timeout_s)
        if anonymous == "refuse" or ws is None:
            ok = status in REFUSED
            if ws is not None:
                ws.close()
            p = Probe(label, "no token", status, ok, detail, url, "WS")
            probes.append(p)
            if not ok:
                found.append(_finding(p, f"anonymous handshake not refused ({detail}; expected 401/403)"))
            continue
        try:
            verdict = _anonymous_chat(ws, timeout_s)
        finally:
            ws.close()
        p = Probe(
            label, "no token (chat)", None, verdict is None, verdict or "chat refused with an error frame", url, "WS"
        )
        probes.append(p)
        if verdict is not None:
            found.append(_finding(p, f"an anonymous socket could chat ({verdict})"))
    return probes, found


def _anonymous_chat(ws: Any, timeout_s: float) -> str | None:
    """None when a chat frame on an anonymous socket is refused (error frame or close); else what happened."""
    import websocket

    try:
        ws.settimeout(timeout_s)
        ws.send(json.dumps({"type": "chat", "message": "security probe: anonymous chat must be refused"}))
        raw = ws.recv()
    except websocket.WebSocketTimeoutException:
        return f"no answer within {timeout_s:g} s"
    except (OSError, websocket.WebSocketException):
        return None  # the server closed the socket: refused
    try:
        frame = json.loads(raw)
    except ValueError:
        return f"answered a non-JSON frame {str(raw)[:80]!r}"
    if isinstance(frame, dict) and frame.get("type") == "error":
        return None
    return f"answered {json.dumps(frame)[:120]}"


def summary(probes: list[Probe]) -> str:
    bad = [p for p in probes if not p.ok]
    return f"{len(bad)} of {len(probes)} probes not refused"


def probe_rows(probes: list[Probe]) -> list[dict[str, Any]]:
    return [
        {
            "operation": p.label,
            "variant": p.variant,
            "status": p.status,
            "ok": p.ok,
            "detail": p.detail,
            "where": f"{p.method} {url_key(p.url)}" if p.url else "",
        }
        for p in probes
    ]
