"""Native passive rules: the checks ZAP's baseline raises most on an API, under ZAP's own plugin ids.

A passive rule only looks at a request and its response. collect() sends the requests (every operation of
the OpenAPI document the run's scope allows, with a schema-valid request and the service profile's
credentials; the document itself, and the pages it links: the configured entry pages and the same-origin
links of every HTML response, bounded in depth and count); scan() applies the rules. The result is ZAP
Alerts, written as a ZAP-format JSON report.

On a target the harness did not start, the scope allows only GET, HEAD and OPTIONS (unless --allow-unsafe
or operations.unsafe_allowed) and never an excluded operation; the crawl itself only sends GET.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urldefrag, urljoin, urlsplit

import requests

from harness.http import DeadlineSession
from harness.security.operations import operations, request_for
from harness.security.zap_report import Alert, Instance, merge
from harness.service.auth import Credentials, RequestsAuth
from harness.service.operations import Scope

CORS_PROBE_ORIGIN = "https://harness-cors-probe.invalid"
MAX_BODY = 2 * 1024 * 1024


@dataclass(slots=True)
class Exchange:
    """One request the scan sent and the response it got (headers as sent, duplicates kept)."""

    method: str
    url: str
    status: int
    headers: list[tuple[str, str]]
    body: str = ""

    def values(self, name: str) -> list[str]:
        name = name.lower()
        return [v for k, v in self.headers if k.lower() == name]

    def first(self, name: str) -> str | None:
        found = self.values(name)
        return found[0] if found else None

    @property
    def content_type(self) -> str:
        return (self.first("content-type") or "").split(";")[0].strip().lower()

    @property
    def is_html(self) -> bool:
        return self.content_type in ("text/html", "application/xhtml+xml")

    @property
    def https(self) -> bool:
        return self.url.startswith("https://")


@dataclass(frozen=True, slots=True)
class RuleInfo:
    name: str
    riskcode: int
    confidence: int
    cweid: str
    wascid: str
    desc: str
    solution: str


# ZAP pscanrules names, risks (0 info .. 3 high), confidences (1 low .. 3 high), CWE and WASC ids
INFO: dict[str, RuleInfo] = {
    "10010": RuleInfo(
        "Cookie No HttpOnly Flag",
        1,
        2,
        "1004",
        "13",
        "A cookie has been set without the HttpOnly flag, so JavaScript can read it.",
        "Set the HttpOnly flag on every cookie scripts do not need.",
    ),
    "10011": RuleInfo(
        "Cookie Without Secure Flag",
        1,
        2,
        "614",
        "13",
        "A cookie has been set over HTTPS without the Secure flag, so it may be sent over plain HTTP.",
        "Set the Secure flag on every cookie of an HTTPS site.",
    ),
    "10017": RuleInfo(
        "Cross-Domain JavaScript Source File Inclusion",
        1,
        2,
        "829",
        "15",
        "The page includes script files from a third-party domain.",
        "Serve scripts from your own origin, or pin them with Subresource Integrity.",
    ),
    "10020": RuleInfo(
        "Missing Anti-clickjacking Header",
        2,
        2,
        "1021",
        "15",
        "The response does not protect against ClickJacking: no X-Frame-Options and no CSP frame-ancestors.",
        "Send X-Frame-Options: DENY (or SAMEORIGIN), or a Content-Security-Policy with frame-ancestors.",
    ),
    "10021": RuleInfo(
        "X-Content-Type-Options Header Missing",
        1,
        2,
        "693",
        "15",
        "The anti-MIME-sniffing header X-Content-Type-Options was not set to 'nosniff'.",
        "Send X-Content-Type-Options: nosniff on every response.",
    ),
    "10035": RuleInfo(
        "Strict-Transport-Security Header Not Set",
        1,
        3,
        "319",
        "15",
        "HTTP Strict Transport Security (HSTS) is not enforced by this HTTPS response.",
        "Send Strict-Transport-Security: max-age=31536000; includeSubDomains on HTTPS responses.",
    ),
    "10036": RuleInfo(
        'Server Leaks Version Information via "Server" HTTP Response Header Field',
        1,
        3,
        "497",
        "13",
        "The Server header names the server software and its version.",
        "Suppress the Server header or leave the version out of it.",
    ),
    "10037": RuleInfo(
        'Server Leaks Information via "X-Powered-By" HTTP Response Header Field(s)',
        1,
        2,
        "497",
        "13",
        "X-Powered-By headers name the framework behind the application.",
        "Stop the server and framework from sending X-Powered-By headers.",
    ),
    "10038": RuleInfo(
        "Content Security Policy (CSP) Header Not Set",
        2,
        3,
        "693",
        "15",
        "The HTML response sets no Content-Security-Policy.",
        "Send a Content-Security-Policy header on every HTML response.",
    ),
    "10049": RuleInfo(
        "Storable and Cacheable Content",
        0,
        2,
        "524",
        "13",
        "The response may be stored and served by shared caches.",
        "Send Cache-Control: no-store for responses that carry user data.",
    ),
    "10054": RuleInfo(
        "Cookie without SameSite Attribute",
        1,
        2,
        "1275",
        "13",
        "A cookie has been set without the SameSite attribute, so it is sent on cross-site requests.",
        "Set SameSite=Lax or SameSite=Strict on every cookie.",
    ),
    "10098": RuleInfo(
        "Cross-Domain Misconfiguration",
        2,
        2,
        "264",
        "14",
        "The CORS headers let any origin read responses (Access-Control-Allow-Origin: * or a reflected origin).",
        "Allow only the origins that need access; never combine a wildcard or reflected origin with credentials.",
    ),
    "90022": RuleInfo(
        "Application Error Disclosure",
        2,
        2,
        "550",
        "13",
        "The response contains an error message or stack trace that discloses implementation details.",
        "Answer errors with a generic message; log the details on the server only.",
    ),
}

ERROR_PATTERNS = [
    re.compile(p)
    for p in (
        r"Traceback \(most recent call last\)",
        r'File "[^"\n]+", line \d+, in ',
        r"\bat [\w$.]+\([\w$]+\.java:\d+\)",
        r"java\.lang\.\w+(Exception|Error)",
        r"System\.\w+Exception",
        r"Microsoft OLE DB Provider",
        r"SQLSTATE\[",
        r"psycopg2?\.errors\.\w+",
        r"sqlalchemy\.exc\.\w+",
        r"\bORA-\d{5}\b",
        r"<b>(Warning|Fatal error)</b>:",
        r"Fatal error: .+ on line \d+",
    )
]
_VERSION = re.compile(r"\d")

Hit = tuple[str, Instance]  # (plugin id, where and what)


def _inst(ex: Exchange, evidence: str = "", param: str = "", other: str = "") -> Instance:
    return Instance(uri=ex.url, method=ex.method, param=param, evidence=evidence[:300], otherinfo=other)


def _cookies(ex: Exchange) -> list[tuple[str, list[str]]]:
    out = []
    for raw in ex.values("set-cookie"):
        parts = [p.strip() for p in raw.split(";")]
        name = parts[0].split("=", 1)[0]
        out.append((name, [p.lower() for p in parts[1:]]))
    return out


def rule_cookies(ex: Exchange) -> list[Hit]:
    hits = []
    for name, attrs in _cookies(ex):
        flags = {a.split("=", 1)[0] for a in attrs}
        if "httponly" not in flags:
            hits.append(("10010", _inst(ex, f"Set-Cookie: {name}", param=name)))
        if ex.https and "secure" not in flags:
            hits.append(("10011", _inst(ex, f"Set-Cookie: {name}", param=name)))
        if "samesite" not in flags:
            hits.append(("10054", _inst(ex, f"Set-Cookie: {name}", param=name)))
    return hits


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[str] = []
        self.scripts: list[str] = []
        self.error: str | None = None  # the parser gave up here: links and scripts after it are unknown

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v for k, v in attrs if v}
        if tag == "script" and "src" in a:
            self.scripts.append(a["src"])
        for key in ("href", "src", "action"):
            if key in a:
                self.links.append(a[key])


def parse_links(ex: Exchange) -> _Links:
    """The links and scripts of a page. When html.parser gives up (it raises AssertionError on some
    malformed markup, e.g. an unknown marked section), what was read so far is kept and parser.error says
    why, so the crawl can report the page as only partly read instead of silently covering less."""
    parser = _Links()
    try:
        parser.feed(ex.body)
        parser.close()
    except Exception as exc:  # noqa: BLE001 - html.parser raises AssertionError and others on bad markup
        parser.error = f"{type(exc).__name__}: {str(exc)[:120]}"
    return parser


def rule_cross_domain_script(ex: Exchange) -> list[Hit]:
    if not ex.is_html:
        return []
    origin = urlsplit(ex.url).netloc
    hits = []
    for src in parse_links(ex).scripts:
        full = urljoin(ex.url, src)
        if urlsplit(full).scheme in ("http", "https") and urlsplit(full).netloc != origin:
            hits.append(("10017", _inst(ex, f'<script src="{src}">', param=full)))
    return hits


def rule_anti_clickjacking(ex: Exchange) -> list[Hit]:
    if not ex.is_html:
        return []
    xfo = (ex.first("x-frame-options") or "").strip().lower()
    csp = " ".join(ex.values("content-security-policy")).lower()
    if xfo in ("deny", "sameorigin") or "frame-ancestors" in csp:
        return []
    return [("10020", _inst(ex, f"X-Frame-Options: {xfo}" if xfo else "", param="x-frame-options"))]


def rule_content_type_options(ex: Exchange) -> list[Hit]:
    if not ex.body or 300 <= ex.status < 400:
        return []
    if (ex.first("x-content-type-options") or "").strip().lower() == "nosniff":
        return []
    return [("10021", _inst(ex, param="x-content-type-options"))]


def rule_hsts(ex: Exchange) -> list[Hit]:
    if not ex.https or ex.first("strict-transport-security"):
        return []
    return [("10035", _inst(ex))]


def rule_server_version(ex: Exchange) -> list[Hit]:
    hits = []
    for value in ex.values("server"):
        if _VERSION.search(value):
            hits.append(("10036", _inst(ex, value)))
    return hits


def rule_powered_by(ex: Exchange) -> list[Hit]:
    return [("10037", _inst(ex, f"X-Powered-By: {v}")) for v in ex.values("x-powered-by")]


def rule_csp(ex: Exchange) -> list[Hit]:
    if not ex.is_html or ex.values("content-security-policy"):
        return []
    return [("10038", _inst(ex))]


def rule_cacheability(ex: Exchange) -> list[Hit]:
    cache = ",".join(ex.values("cache-control")).lower()
    if "no-store" in cache or ex.method not in ("GET", "HEAD") or ex.status not in (200, 203, 204, 206, 300, 301):
        return []
    return [("10049", _inst(ex, f"Cache-Control: {cache}" if cache else "", other="no Cache-Control: no-store"))]


def rule_cors(ex: Exchange) -> list[Hit]:
    acao = (ex.first("access-control-allow-origin") or "").strip()
    if acao not in ("*", CORS_PROBE_ORIGIN):
        return []
    credentials = (ex.first("access-control-allow-credentials") or "").strip().lower() == "true"
    evidence = f"Access-Control-Allow-Origin: {acao}" + (
        ", Access-Control-Allow-Credentials: true" if credentials else ""
    )
    how = "a wildcard" if acao == "*" else f"the request's Origin ({CORS_PROBE_ORIGIN}) reflected"
    return [("10098", _inst(ex, evidence, other=f"CORS allows {how}{' with credentials' if credentials else ''}"))]


def rule_error_disclosure(ex: Exchange) -> list[Hit]:
    if ex.content_type in ("application/javascript", "text/javascript", "text/css") or not ex.body:
        return []
    for pattern in ERROR_PATTERNS:
        found = pattern.search(ex.body)
        if found:
            return [("90022", _inst(ex, found.group(0)))]
    return []


RULES: list[Callable[[Exchange], list[Hit]]] = [
    rule_cookies,
    rule_cross_domain_script,
    rule_anti_clickjacking,
    rule_content_type_options,
    rule_hsts,
    rule_server_version,
    rule_powered_by,
    rule_csp,
    rule_cacheability,
    rule_cors,
    rule_error_disclosure,
]


def scan(exchanges: list[Exchange]) -> list[Alert]:
    """Apply every rule to every exchange; one Alert per plugin id."""
    alerts: list[Alert] = []
    for ex in exchanges:
        for rule in RULES:
            for plugin_id, inst in rule(ex):
                info = INFO[plugin_id]
                alerts.append(
                    Alert(
                        pluginid=plugin_id,
                        name=info.name,
                        riskcode=info.riskcode if not (plugin_id == "10098" and "Credentials" in inst.evidence) else 3,
                        confidence=info.confidence,
                        instances=[inst],
                        desc=info.desc,
                        solution=info.solution,
                        cweid=info.cweid,
                        wascid=info.wascid,
                        source="native",
                    )
                )
    return merge(alerts)


@dataclass(slots=True)
class Crawl:
    """What collect() did: the exchanges, the pages among them, and what went wrong: requests that got no
    response at all, and pages the link parser could read only in part."""

    exchanges: list[Exchange] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    pages: int = 0  # HTML pages and the OpenAPI document fetched by the crawl (not the operations' calls)
    skipped: list[str] = field(default_factory=list)  # "METHOD /path: why" of operations the scope left out

    @property
    def responses(self) -> int:
        """Responses the passive rules scan."""
        return len(self.exchanges)


def _exchange(resp: requests.Response) -> Exchange:
    raw_headers = getattr(resp.raw, "headers", None)
    if raw_headers is not None and hasattr(raw_headers, "items"):
        headers = [(str(k), str(v)) for k, v in raw_headers.items()]
    else:
        headers = [(k, v) for k, v in resp.headers.items()]
    body = resp.content[:MAX_BODY].decode(resp.encoding or "utf-8", errors="replace")
    return Exchange(resp.request.method or "GET", resp.url, resp.status_code, headers, body)


def collect(
    base_url: str,
    doc: dict[str, Any] | None,
    *,
    creds: Credentials | None,
    entry_paths: list[str],
    extra_urls: list[str],
    timeout_s: float,
    max_pages: int = 50,
    max_depth: int = 2,
    scope: Scope | None = None,
) -> Crawl:
    """Send every operation's request the scope allows (default: all) and crawl the linked pages (same
    origin only, bounded, GET only). The requests carry creds as the service profile's auth says."""
    crawl = Crawl()
    origin = urlsplit(base_url).netloc
    seen: set[tuple[str, str]] = set()
    with DeadlineSession(timeout_s) as session:  # each exchange bounded end to end
        session.headers["Origin"] = CORS_PROBE_ORIGIN  # lets the CORS rule see a reflected origin
        session.headers["User-Agent"] = "ai-orchestra-harness security (native passive rules)"
        if creds is not None and creds.present():
            session.auth = RequestsAuth(creds)

        def send(method: str, url: str, body: Any = None) -> Exchange | None:
            if (method, url) in seen or len(seen) >= max_pages + 100:
                return None
            seen.add((method, url))
            try:
                resp = session.request(method, url, json=body, timeout=timeout_s, allow_redirects=False, stream=False)
            except requests.RequestException as exc:
                crawl.failures.append(f"{method} {url}: {type(exc).__name__}")
                return None
            ex = _exchange(resp)
            crawl.exchanges.append(ex)
            if ex.is_html:
                problem = parse_links(ex).error
                if problem:
                    crawl.failures.append(f"{method} {url}: the link parser read the page only in part ({problem})")
            return ex

        if doc is not None:
            for op in operations(doc):
                tags = op.spec.get("tags") if isinstance(op.spec.get("tags"), list) else []
                why = scope.excluded(op.method, op.path, [str(t) for t in tags]) if scope is not None else None
                if why:
                    crawl.skipped.append(f"{op.label}: {why}")
                    continue
                probe = request_for(op, doc, base_url)
                send(probe.method, probe.url, probe.json)
        queue = [(urljoin(base_url.rstrip("/") + "/", p.lstrip("/")), 0) for p in entry_paths] + [
            (u, 0) for u in extra_urls
        ]
        documents = set(extra_urls)
        fetched = 0
        while queue and fetched < max_pages:
            url, depth = queue.pop(0)
            ex = send("GET", url)
            if ex is None:
                continue
            fetched += 1
            if ex.is_html or url in documents:
                crawl.pages += 1
            if depth >= max_depth:
                continue
            links = parse_links(ex).links if ex.is_html else []
            location = ex.first("location")
            if location and 300 <= ex.status < 400:
                links.append(location)
            for link in links:
                full = urldefrag(urljoin(ex.url, link))[0]
                parts = urlsplit(full)
                if parts.scheme in ("http", "https") and parts.netloc == origin:
                    queue.append((full, depth + 1))
    return crawl
