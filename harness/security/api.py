"""The first items of the OWASP API Security Top 10 that a pentest tries, each judged against a control:

- injection (`inject.*`): bounded payloads (SQL, NoSQL, command, path traversal, template) in the string
  path and query parameters of GET operations; a finding when the answer is a 5xx, or carries a database
  error, a stack trace or the payload's evaluated marker, that the control's answer (the same request with
  a real value) did not. Safe methods only: nothing is written.
- object-level authorization (`auth.bola`): with the profile's two identities, objects that one identity
  lists and the other does not are read by the other; a success with the owner's data is a finding.
- mass assignment (`auth.mass_assignment`, needs the unsafe operation to be allowed: --allow-unsafe on a
  target the harness did not start): create requests that also carry a privileged field the response
  schema has and the request schema does not (admin, role, is_admin, ...); applied is a finding.
- user enumeration (`auth.user_enumeration`, low, reported, not blocking): the profile's login with an
  unknown user and with a known user's wrong password; a different status or body is a finding. One failed
  login per identity at most (an account lockout policy is never approached).
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import requests

from harness.http import DeadlineSession
from harness.security.auth import Unjudged, identifiers_for, request, success_class
from harness.security.findings import Finding
from harness.security.identifiers import id_of
from harness.security.operations import Operation, ProbeRequest, _resolve, operations, request_for
from harness.service.auth import PLACEHOLDER, Credentials
from harness.service.operations import Scope

MARK = "hx7q"  # a marker around template and command payloads: its evaluated form is unmistakable
PAYLOADS: tuple[tuple[str, str], ...] = (
    ("sql", "'"),
    ("sql", "1' OR '1'='1"),
    ("nosql", '{"$gt": ""}'),
    ("command", f";echo {MARK}$((6*7)){MARK}"),
    ("traversal", "../" * 6 + "etc/passwd"),
    ("template", f"{MARK}{{{{7*7}}}}{MARK}"),
)
# what an answer must not carry unless the control's did: database errors, stack traces, evaluated payloads
SIGNATURES: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        "database error",
        re.compile(
            r"SQL syntax|syntax error at or near|unterminated quoted string|SQLSTATE|sqlite3?\.\w*Error|"
            r"OperationalError|ProgrammingError|unrecognized token|near \"[^\"]*\": syntax error|ORA-\d{5}|"
            r"PG::\w+Error|psycopg|MongoError|MongoServerError|CastError",
            re.IGNORECASE,
        ),
    ),
    ("stack trace", re.compile(r"Traceback \(most recent call last\)|\bat [\w$.]+\([\w]+\.java:\d+\)")),
    ("command output", re.compile(rf"{MARK}42{MARK}|uid=\d+\(\w+\) gid=\d+")),
    ("file content", re.compile(r"root:[x*]?:0:0:")),
    ("template evaluated", re.compile(rf"{MARK}49{MARK}")),
)
PRIVILEGED = (
    "admin",
    "is_admin",
    "isAdmin",
    "role",
    "roles",
    "is_staff",
    "is_superuser",
    "superuser",
    "permissions",
    "scopes",
    "privileges",
    "account_type",
    "user_type",
    "verified",
    "is_verified",
    "email_verified",
    "approved",
)
BODY_LIMIT = 64 * 1024


@dataclass(slots=True)
class ApiCheck:
    """What one of these checks did: requests sent, findings, operations it could not judge (and why)."""

    name: str = ""
    sent: int = 0
    findings: list[Finding] = field(default_factory=list)
    unjudged: list[Unjudged] = field(default_factory=list)
    checked: list[str] = field(default_factory=list)  # operations (or the login) actually judged
    candidates: int = 0  # operations the check applies to (judged or not)
    left_out: list[str] = field(default_factory=list)  # 'METHOD /path: why' it applies to and the scope left out


def curl(req: ProbeRequest, creds: Credentials | None) -> str:
    """A curl line reproducing the request, the token as $HARNESS_TOKEN."""
    parts = ["curl", "-sS", "-X", req.method, f"'{req.url}'"]
    if creds is not None:
        parts += creds.curl_args()
        if creds.auth.scheme == "query":
            parts[4] = f"'{creds.url(req.url, PLACEHOLDER)}'"
    if req.json is not None:
        parts += [
            "-H",
            "'Content-Type: application/json'",
            "-d",
            "'" + json.dumps(req.json).replace("'", "'\\''") + "'",
        ]
    return " ".join(parts)


def _text(resp: requests.Response | None) -> str:
    return resp.text[:BODY_LIMIT] if resp is not None else ""


def _signatures(text: str) -> set[str]:
    return {name for name, pattern in SIGNATURES if pattern.search(text)}


def _string_params(op: Operation, doc: dict[str, Any]) -> list[tuple[str, str]]:
    """(where, name) of the operation's string path and query parameters."""
    out = []
    for raw in op.spec.get("parameters", []):
        p = _resolve(raw, doc)
        if not isinstance(p, dict) or p.get("in") not in ("path", "query"):
            continue
        schema = _resolve(p.get("schema", {}), doc)
        kind = schema.get("type", "string") if isinstance(schema, dict) else "string"
        if kind == "string" or (isinstance(kind, list) and "string" in kind):
            out.append((str(p["in"]), str(p.get("name", ""))))
    return out


def _finding(
    rule: str, title: str, severity: str, req: ProbeRequest, evidence: str, key: str, **details: Any
) -> Finding:
    return Finding(
        source="auth",
        rule_id=rule,
        title=title,
        severity=severity,
        level="FAIL" if severity in ("high", "critical", "medium") else "WARN",
        method=req.method,
        url=req.url,
        evidence=evidence[:300],
        key=key,
        details=details,
    )


def check_injection(
    doc: dict[str, Any],
    base_url: str,
    *,
    creds: Credentials,
    scope: Scope,
    timeout_s: float,
    examples: dict[str, Any] | None = None,
) -> ApiCheck:
    """Injection payloads in the string path and query parameters of every GET the scope allows."""
    out = ApiCheck("injection")
    with DeadlineSession(timeout_s) as session:  # each exchange bounded end to end
        ids = identifiers_for(session, doc, base_url, scope, examples, timeout_s)
        parts = creds.parts() if creds.present() else {"headers": {}, "params": {}, "cookies": {}}
        for op in operations(doc):
            params = _string_params(op, doc) if op.method == "GET" else []
            if not params:
                continue
            tags = op.spec.get("tags") or []
            if scope.excluded(op.method, op.path, tags):
                missed = scope.missed(op.method, op.path, tags)  # None: the team's policy dropped it
                if missed:
                    out.left_out.append(f"{op.label}: {missed}")
                continue
            out.candidates += 1
            values = ids.path_values(op, parts)
            control_req = request_for(op, doc, base_url, path_values=values)
            control = request(session, control_req, parts, timeout_s)
            out.sent += 1
            if control is None or control.status_code >= 500:
                status = control.status_code if control is not None else None
                why = f"HTTP {status}" if status else "no answer"
                out.unjudged.append(Unjudged(op.label, f"injection: the control request failed ({why})", status))
                continue
            base_signs = _signatures(_text(control))
            out.checked.append(op.label)
            for where, name in params:
                for kind, payload in PAYLOADS:
                    if where == "path":
                        req = request_for(op, doc, base_url, path_values={**values, name: payload})
                    else:
                        req = request_for(op, doc, base_url, path_values=values, query_values={name: payload})
                    resp = request(session, req, parts, timeout_s)
                    out.sent += 1
                    if resp is None:
                        continue
                    signs = _signatures(_text(resp)) - base_signs
                    if resp.status_code < 500 and not signs:
                        continue
                    what = ", ".join(sorted(signs)) or f"HTTP {resp.status_code}"
                    out.findings.append(
                        _finding(
                            f"inject.{kind}",
                            f"{kind} payload in {where} parameter {name!r} answered {resp.status_code} with {what} "
                            f"(the control answered {control.status_code})",
                            "high",
                            req,
                            _text(resp)[:300],
                            f"{op.label}|{where}:{name}|{kind}",
                            operation=op.label,
                            parameter=name,
                            payload=payload,
                            status=resp.status_code,
                            control_status=control.status_code,
                            curl=curl(req, creds if creds.present() else None),
                        )
                    )
                    break  # one finding per parameter and payload kind is enough; the next kind
    return out


def _same_object(a: requests.Response, b: requests.Response) -> bool:
    """Whether two answers carry the same object (equal JSON, else equal text)."""
    try:
        return a.json() == b.json()
    except ValueError:
        return a.text == b.text


def check_object_authorization(
    doc: dict[str, Any],
    base_url: str,
    *,
    main: Credentials,
    other: Credentials,
    scope: Scope,
    timeout_s: float,
) -> ApiCheck:
    """For every GET /things/{id} whose collection GET /things lists objects: the objects one identity lists
    and the other does not are read by the other; the owner's read is the control (2xx, else unjudged); the
    other's success with the owner's object is a finding."""
    out = ApiCheck("object_authorization")
    with DeadlineSession(timeout_s) as session:  # each exchange bounded end to end
        ids = identifiers_for(session, doc, base_url, scope, None, timeout_s)
        for op in operations(doc):
            names = re.findall(r"\{([^}]+)\}", op.path)
            if op.method != "GET" or len(names) != 1 or not op.path.endswith("}"):
                continue
            if scope.excluded("GET", op.path, op.spec.get("tags") or []):
                continue
            collection = op.path.rsplit("/", 1)[0]
            name = names[0]
            listed = {}
            for who, creds in (("main", main), ("other", other)):
                items = ids.listing(collection, creds.parts())
                listed[who] = {str(v) for v in (id_of(i, name) for i in items) if v is not None}
            out.sent += 2
            pairs = [(v, main, other, "the low-privilege identity") for v in sorted(listed["main"] - listed["other"])]
            pairs += [(v, other, main, "the main identity") for v in sorted(listed["other"] - listed["main"])]
            if not pairs:
                if listed["main"] or listed["other"]:
                    why = "both identities list the same objects: none is one identity's alone"
                else:
                    why = "neither identity lists an object at " + collection
                out.unjudged.append(Unjudged(op.label, f"object-level authorization: {why}", None))
                continue
            for value, owner, intruder, who in pairs[:2]:  # two objects per operation are enough
                req = request_for(op, doc, base_url, path_values={name: value})
                control = request(session, req, owner.parts(), timeout_s)
                probe = request(session, req, intruder.parts(), timeout_s)
                out.sent += 2
                if control is None or success_class(control.status_code) != 2:
                    status = control.status_code if control is not None else None
                    out.unjudged.append(
                        Unjudged(op.label, f"object-level authorization: the owner's read got {status}", status)
                    )
                    continue
                out.checked.append(op.label)
                if probe is not None and success_class(probe.status_code) == 2 and _same_object(control, probe):
                    out.findings.append(
                        _finding(
                            "auth.bola",
                            f"{who} read an object it does not list ({name}={value}): answered "
                            f"{probe.status_code} with the owner's data",
                            "high",
                            req,
                            _text(probe)[:300],
                            f"{op.label}|{who}",
                            operation=op.label,
                            status=probe.status_code,
                            curl=curl(req, intruder),
                        )
                    )
    return out


def _schema_props(node: Any, doc: dict[str, Any]) -> dict[str, Any]:
    node = _resolve(node, doc)
    if not isinstance(node, dict):
        return {}
    props = dict(node.get("properties") or {})
    for part in node.get("allOf") or []:
        props.update(_schema_props(part, doc))
    return {k: _resolve(v, doc) for k, v in props.items()}


def _privileged_value(schema: Any) -> Any:
    if not isinstance(schema, dict):
        return True
    if schema.get("enum"):
        enum = [str(e) for e in schema["enum"]]
        return next((e for e in enum if "admin" in e.lower()), enum[-1])
    kind = schema.get("type")
    for option in schema.get("anyOf") or schema.get("oneOf") or []:
        if isinstance(option, dict) and option.get("type") not in (None, "null"):
            kind = option.get("type")
            break
    return {"boolean": True, "array": ["admin"], "integer": 1, "number": 1}.get(str(kind), "admin")


def check_mass_assignment(
    doc: dict[str, Any],
    base_url: str,
    *,
    creds: Credentials,
    scope: Scope,
    timeout_s: float,
    protected: Callable[[dict[str, Any]], bool] = lambda body: False,
) -> ApiCheck:
    """Every POST/PUT/PATCH the scope allows whose 2xx response schema has a privileged field its request
    schema lacks: the control (the example body) first, then the same body with the field set; the answer
    carrying the value sent (and not the control's) is a finding. `protected(body)`: a body that would change
    one of the profile's own identities is not sent."""
    out = ApiCheck("mass_assignment")
    with DeadlineSession(timeout_s) as session:  # each exchange bounded end to end
        for op in operations(doc):
            if op.method not in ("POST", "PUT", "PATCH") or "{" in op.path:
                continue
            if scope.excluded(op.method, op.path, op.spec.get("tags") or []):
                continue
            content = (_resolve(op.spec.get("requestBody", {}), doc) or {}).get("content", {})
            request_props = _schema_props((content.get("application/json") or {}).get("schema"), doc)
            if not content.get("application/json"):
                continue
            response_props: dict[str, Any] = {}
            for code, raw in (op.spec.get("responses") or {}).items():
                if str(code).startswith("2"):
                    media = ((_resolve(raw, doc) or {}).get("content") or {}).get("application/json") or {}
                    response_props.update(_schema_props(media.get("schema"), doc))
            fields = [f for f in PRIVILEGED if f in response_props and f not in request_props]
            if not fields:
                continue
            base = request_for(op, doc, base_url)
            if not isinstance(base.json, dict) or protected(base.json):
                continue
            parts = creds.parts() if creds.present() else {"headers": {}, "params": {}, "cookies": {}}
            for name in fields[:3]:
                value = _privileged_value(response_props[name])
                control_body = _unique(base.json)
                control = request(session, ProbeRequest(op.method, base.url, control_body, op.label), parts, timeout_s)
                out.sent += 1
                if control is None or success_class(control.status_code) != 2:
                    status = control.status_code if control is not None else None
                    out.unjudged.append(Unjudged(op.label, f"mass assignment: the control got {status}", status))
                    break
                req = ProbeRequest(op.method, base.url, {**_unique(base.json), name: value}, op.label)
                probe = request(session, req, parts, timeout_s)
                out.sent += 1
                out.checked.append(op.label)
                got = _field(control), _field(probe)
                if probe is None or success_class(probe.status_code) != 2:
                    continue
                if got[1].get(name) == value and got[0].get(name) != value:
                    out.findings.append(
                        _finding(
                            "auth.mass_assignment",
                            f"the privileged field {name!r} sent in the request was applied ({name}={value!r}; "
                            f"without it the answer says {got[0].get(name)!r})",
                            "high",
                            req,
                            _text(probe)[:300],
                            f"{op.label}|{name}",
                            operation=op.label,
                            field=name,
                            status=probe.status_code,
                            curl=curl(req, creds if creds.present() else None),
                        )
                    )
    return out


def _field(resp: requests.Response | None) -> dict[str, Any]:
    try:
        doc = resp.json() if resp is not None else {}
    except ValueError:
        return {}
    return doc if isinstance(doc, dict) else {}


def _unique(body: dict[str, Any]) -> dict[str, Any]:
    """The example body with its string values made unique (a second create of the same name is a 409)."""
    tag = secrets.token_hex(3)
    return {k: (f"{v}-{tag}"[:64] if isinstance(v, str) else v) for k, v in body.items()}


def check_user_enumeration(base_url: str, creds: Credentials, timeout_s: float) -> ApiCheck:
    """The identity's login once with an unknown user name and once with its own name and a wrong password
    (same length): a different status, or a different body once the names are taken out, is a finding (low)."""
    out = ApiCheck("user_enumeration")
    source = creds.source
    login = source.login if source is not None else None
    if login is None:
        return out
    body = login.json_body
    user_key = next((k for k, v in body.items() if isinstance(v, str) and v.startswith("{env:")), None)
    secret_key = next((k for k, v in body.items() if isinstance(v, str) and v.startswith("{secret")), None)
    if user_key is None or secret_key is None:
        return out
    from harness.service.auth import _fill

    filled = _fill(body, source.env, "user enumeration")
    known = str(filled[user_key])
    wrong = "x" + secrets.token_urlsafe(12)
    unknown = f"no-such-user-{secrets.token_hex(4)}"
    url = base_url.rstrip("/") + login.path
    answers = []
    with DeadlineSession(timeout_s) as session:  # each exchange bounded end to end
        for name in (known, unknown):
            req = ProbeRequest(
                login.method, url, {**filled, user_key: name, secret_key: wrong}, f"{login.method} {login.path}"
            )
            resp = request(session, req, {"headers": {}, "params": {}, "cookies": {}}, timeout_s)
            out.sent += 1
            answers.append((req, resp, name))
    (kreq, known_resp, _), (ureq, unknown_resp, _) = answers
    if known_resp is None or unknown_resp is None:
        return out
    out.checked.append(kreq.label)
    if known_resp.status_code < 400:
        out.unjudged.append(
            Unjudged(
                kreq.label, f"user enumeration: a wrong password got {known_resp.status_code}", known_resp.status_code
            )
        )
        return out
    k_text = _text(known_resp).replace(known, "<user>")
    u_text = _text(unknown_resp).replace(unknown, "<user>")
    if known_resp.status_code != unknown_resp.status_code or k_text != u_text:
        safe = {**ureq.json, secret_key: "<wrong password>"}
        shown = ProbeRequest(ureq.method, ureq.url, safe, ureq.label)
        out.findings.append(
            _finding(
                "auth.user_enumeration",
                f"the login tells an unknown user ({unknown_resp.status_code} {u_text[:80]!r}) from a known user's "
                f"wrong password ({known_resp.status_code} {k_text[:80]!r})",
                "low",
                shown,
                u_text[:300],
                f"{kreq.label}|enumeration",
                operation=kreq.label,
                status=unknown_resp.status_code,
                curl=curl(shown, None),
            )
        )
    return out


def where(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")
