"""Auth checks: every protected operation (from the OpenAPI security requirements) must answer 401 or 403
to no token, a malformed token, a token of the wrong scheme and a wrong token; so must the WebSocket
handshake to a malformed or wrong token. An operation that declares no security requirement must be
listed as public in config, or refuse an anonymous request all the same.

The WebSocket and the guide's smoke test: the guide connects WITHOUT a token and sends a ping, so an
anonymous socket may be allowed to open (websocket_anonymous = "ping-only", the default). It must then
refuse to chat: a chat frame gets an error frame, never a reply. With websocket_anonymous = "refuse"
the anonymous handshake must be refused too.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from typing import Any

import requests

from harness.security.findings import Finding, url_key
from harness.security.operations import PROBE, operations, request_for

REFUSED = (401, 403)


def _variants() -> list[tuple[str, dict[str, str]]]:
    """(name, headers) of the credentials that must be refused. The wrong token looks like a real one."""
    return [
        ("no token", {}),
        ("malformed token", {"Authorization": "Bearer not a token;, really"}),
        ("wrong scheme", {"Authorization": "Basic c2VjdXJpdHk6cHJvYmU="}),
        ("wrong token", {"Authorization": f"Bearer {secrets.token_urlsafe(24)}"}),
    ]


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


def _finding(p: Probe, title: str) -> Finding:
    return Finding(
        source="auth",
        rule_id=f"auth.{p.variant.replace(' ', '_')}",
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
    """A positive control: one protected operation (or WebSocket path) called with the harness's own token.

    accepted: answered, and not with 401/403 or a server error, so auth let the real token through;
    refused: 401/403 (the token is not valid here); broken: no answer or a 5xx (not an auth answer at all)."""

    label: str
    result: str  # accepted | refused | broken
    status: int | None
    detail: str

    def row(self) -> dict[str, Any]:
        return {"operation": self.label, "result": self.result, "status": self.status, "detail": self.detail}


def _judge_control(label: str, status: int | None, detail: str) -> Control:
    if status in REFUSED:
        return Control(label, "refused", status, detail)
    if status is None or status >= 500:
        return Control(label, "broken", status, detail)
    return Control(label, "accepted", status, detail)


def positive_controls(
    doc: dict[str, Any],
    base_url: str,
    ws_base: str,
    ws_paths: list[str],
    *,
    token: str,
    timeout_s: float,
    methods: tuple[str, ...] | None = None,
) -> list[Control]:
    """Call every protected operation (of `methods`, default all), and open every WebSocket path, with the
    real token: the probes prove something only where the real token gets through."""
    out: list[Control] = []
    headers = {"Authorization": f"Bearer {token}"}
    with requests.Session() as session:
        for op in operations(doc):
            if not op.secured or (methods is not None and op.method not in methods):
                continue
            req = request_for(op, doc, base_url)
            try:
                resp = session.request(
                    req.method, req.url, json=req.json, headers=headers, timeout=timeout_s, allow_redirects=False
                )
            except requests.RequestException as exc:
                out.append(_judge_control(op.label, None, f"no answer ({type(exc).__name__})"))
                continue
            out.append(_judge_control(op.label, resp.status_code, f"HTTP {resp.status_code}"))
    for template in ws_paths:
        path = template.replace("{user_id}", PROBE).replace("{session_id}", "auth-control")
        url = f"{ws_base.rstrip('/')}/{path.lstrip('/')}"
        status, ws, detail = _ws_handshake(url, [f"Authorization: Bearer {token}"], timeout_s)
        if ws is not None:
            ws.close()
            out.append(Control(f"WS {template}", "accepted", 101, detail))
        elif status is not None:
            out.append(_judge_control(f"WS {template}", status, detail))
        else:
            out.append(Control(f"WS {template}", "broken", None, detail))
    return out


def control_problem(controls: list[Control]) -> str | None:
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
        "nothing; set HARNESS_TOKEN to a token the target accepts"
    )


def check_http(
    doc: dict[str, Any], base_url: str, *, public: set[str], timeout_s: float
) -> tuple[list[Probe], list[Finding]]:
    """Probe every operation that is protected, or unprotected without being listed as public."""
    probes: list[Probe] = []
    found: list[Finding] = []
    with requests.Session() as session:
        for op in operations(doc):
            if op.label in public and not op.secured:
                continue
            req = request_for(op, doc, base_url)
            variants = _variants() if op.secured else _variants()[:1]
            for variant, headers in variants:
                try:
                    resp = session.request(
                        req.method, req.url, json=req.json, headers=headers, timeout=timeout_s, allow_redirects=False
                    )
                except requests.RequestException as exc:
                    p = Probe(op.label, variant, None, False, f"no answer ({type(exc).__name__})", req.url, req.method)
                    probes.append(p)
                    found.append(_finding(p, f"no answer with {variant}"))
                    continue
                ok = resp.status_code in REFUSED
                p = Probe(op.label, variant, resp.status_code, ok, f"HTTP {resp.status_code}", req.url, req.method)
                probes.append(p)
                if ok:
                    continue
                if op.secured:
                    title = f"answered {resp.status_code} with {variant} (expected 401/403)"
                else:
                    title = (
                        f"answered {resp.status_code} without a token, declares no security requirement "
                        "and is not in public_operations"
                    )
                found.append(_finding(p, title))
    return probes, found


def _ws_handshake(url: str, headers: list[str], timeout_s: float) -> tuple[int | None, Any, str]:
    """(HTTP status of a refused handshake or None, the open socket or None, detail)."""
    import websocket

    try:
        ws = websocket.create_connection(url, header=headers, timeout=timeout_s)
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
    ws_base: str, paths: list[str], *, anonymous: str, timeout_s: float
) -> tuple[list[Probe], list[Finding]]:
    """Wrong and malformed tokens must be refused in the handshake (401/403); an anonymous socket must
    be refused ("refuse") or must not be able to chat ("ping-only")."""
    probes: list[Probe] = []
    found: list[Finding] = []
    for template in paths:
        path = template.replace("{user_id}", PROBE).replace("{session_id}", "auth-probe")
        url = f"{ws_base.rstrip('/')}/{path.lstrip('/')}"
        label = f"WS {template}"
        bad = [
            ("malformed token", ["Authorization: Bearer not a token;, really"], url),
            ("wrong token", [f"Authorization: Bearer {secrets.token_urlsafe(24)}"], url),
            ("wrong query token", [], f"{url}?token={secrets.token_urlsafe(24)}"),
        ]
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
