"""Native passive rules (ZAP's plugin ids) on hand-made exchanges, and the bounded crawl on a local server."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from harness.security.operations import PATH_PROBE, example, operations, request_for
from harness.security.passive import CORS_PROBE_ORIGIN, Exchange, collect, scan
from harness.service.auth import Credentials, TokenSource
from harness.service.operations import Scope
from harness.service.profile import Auth, Operations


def creds(token: str, **auth: str) -> Credentials:
    return Credentials(Auth(**auth), TokenSource("http://unused", static=token))


SAFE = [
    ("Content-Type", "application/json"),
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'"),
    ("Cache-Control", "no-store"),
    ("Server", "uvicorn"),
]


def ex(headers=SAFE, body='{"ok": true}', url="http://app/health", status=200, method="GET") -> Exchange:
    return Exchange(method, url, status, list(headers), body)


def with_(*extra, drop=()) -> list[tuple[str, str]]:
    return [h for h in SAFE if h[0].lower() not in {d.lower() for d in drop}] + list(extra)


def ids(exchanges) -> set[str]:
    return {a.pluginid for a in scan(exchanges if isinstance(exchanges, list) else [exchanges])}


HTML = [("Content-Type", "text/html; charset=utf-8")]


def test_a_well_configured_api_response_raises_nothing():
    assert ids(ex()) == set()


@pytest.mark.parametrize(
    ("exchange", "plugin"),
    [
        (ex(with_(drop=["X-Content-Type-Options"])), "10021"),
        (ex(with_(("X-Powered-By", "FastAPI/0.115"))), "10037"),
        (ex(with_(("Server", "uvicorn/0.30.1 Python/3.11"), drop=["Server"])), "10036"),
        (ex(with_(("Access-Control-Allow-Origin", "*"))), "10098"),
        (ex(with_(("Access-Control-Allow-Origin", CORS_PROBE_ORIGIN))), "10098"),
        (ex(with_(drop=["Cache-Control"])), "10049"),
        (ex(with_(("Set-Cookie", "sid=1; Secure; SameSite=Lax"))), "10010"),
        (ex(with_(("Set-Cookie", "sid=1; HttpOnly; SameSite=Lax")), url="https://app/"), "10011"),
        (ex(with_(("Set-Cookie", "sid=1; HttpOnly; Secure"))), "10054"),
        (ex(url="https://app/health"), "10035"),
        (ex(body='Traceback (most recent call last):\n  File "/srv/app/x.py", line 3, in f', status=500), "90022"),
        (ex(body="java.lang.NullPointerException\n\tat com.acme.Foo(Foo.java:12)", status=500), "90022"),
    ],
)
def test_each_rule_fires_on_what_zap_flags(exchange, plugin):
    assert plugin in ids(exchange)


def test_html_rules_only_look_at_html():
    page = "<html><script src='https://cdn.jsdelivr.net/npm/swagger-ui.js'></script><script src='/local.js'></script>"
    bare_html = ex(HTML + [("X-Content-Type-Options", "nosniff")], body=page, url="http://app/docs")
    assert ids(bare_html) == {"10020", "10038", "10017", "10049"}
    alerts = {a.pluginid: a for a in scan([bare_html])}
    assert [i.param for i in alerts["10017"].instances] == ["https://cdn.jsdelivr.net/npm/swagger-ui.js"]
    framed_by_csp = ex(
        HTML
        + [("Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'"), ("Cache-Control", "no-store")],
        body="<p>hi</p>",
    )
    assert ids(framed_by_csp) == {"10021"}
    json_without_csp = ex(with_(drop=["Content-Security-Policy", "X-Frame-Options"]))
    assert ids(json_without_csp) == set()  # as ZAP: CSP and anti-clickjacking are judged on HTML only


def test_no_false_disclosure_on_a_normal_error_body_and_credentials_raise_the_cors_risk():
    assert ids(ex(body='{"detail": "session not found"}', status=404)) == set()
    wildcard = scan([ex(with_(("Access-Control-Allow-Origin", "*"), ("Access-Control-Allow-Credentials", "true")))])
    assert wildcard[0].pluginid == "10098" and wildcard[0].riskcode == 3


def test_alerts_merge_instances_per_rule():
    alerts = scan([ex(with_(drop=["X-Content-Type-Options"]), url=f"http://app/{i}") for i in range(3)])
    assert (
        len(alerts) == 1 and len(alerts[0].instances) == 3 and alerts[0].name == "X-Content-Type-Options Header Missing"
    )


DOC = {
    "openapi": "3.1.0",
    "paths": {
        "/health": {"get": {}},
        "/items/{item_id}": {
            "parameters": [{"name": "item_id", "in": "path", "required": True, "schema": {"type": "string"}}],
            "get": {
                "security": [{"bearer": []}],
                "parameters": [
                    {"name": "verbose", "in": "query", "required": True, "schema": {"type": "boolean"}},
                    {"name": "page", "in": "query", "required": False, "schema": {"type": "integer"}},
                ],
            },
        },
        "/items": {
            "post": {
                "security": [{}, {"bearer": []}],
                "requestBody": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Item"}}}},
            }
        },
    },
    "components": {
        "schemas": {
            "Item": {
                "type": "object",
                "required": ["name", "count", "tags", "kind"],
                "properties": {
                    "name": {"type": "string", "minLength": 20},
                    "count": {"type": "integer", "minimum": 3},
                    "tags": {"type": "array", "items": {"type": "string"}, "minItems": 1},
                    "kind": {"anyOf": [{"type": "null"}, {"enum": ["a", "b"]}]},
                    "note": {"type": "string"},
                },
            }
        }
    },
}


def test_operations_know_which_are_protected_and_get_schema_valid_requests():
    ops = {op.label: op for op in operations(DOC)}
    assert {k: v.secured for k, v in ops.items()} == {
        "GET /health": False,
        "GET /items/{item_id}": True,
        "POST /items": False,  # [{}] offers anonymous access
    }
    get = request_for(ops["GET /items/{item_id}"], DOC, "http://app/")
    assert get.url == f"http://app/items/{PATH_PROBE}?verbose=false" and get.json is None
    body = request_for(ops["POST /items"], DOC, "http://app").json
    assert body == {"name": "security-probexxxxxx", "count": 3, "tags": ["security-probe"], "kind": "a"}
    assert example({"type": ["null", "integer"]}, DOC) == 1


class _Site(BaseHTTPRequestHandler):
    """A tiny site: HTML pages linking to each other, an off-site script, a JSON API and an error page."""

    pages = {
        "/": ("text/html", "<a href='/docs'>docs</a> <a href='https://elsewhere.example/x'>off-site</a>"),
        "/docs": ("text/html", "<script src='https://cdn.example/ui.js'></script><a href='/deep'>deep</a>"),
        "/deep": ("text/html", "<a href='/deeper'>deeper</a>"),
        "/deeper": ("text/html", "too deep for max_depth=2"),
        "/health": ("application/json", '{"status": "healthy"}'),
        "/boom": ("text/plain", 'Traceback (most recent call last):\n  File "x.py", line 1, in <module>'),
    }
    seen: list[tuple[str, str, str | None, str | None]] = []

    def _answer(self) -> None:
        path = self.path.split("?")[0]
        _Site.seen.append((self.command, path, self.headers.get("Authorization"), self.headers.get("Origin")))
        ctype, body = self.pages.get(path, ("application/json", '{"detail": "not found"}'))
        status = 200 if path in self.pages else 404
        if path == "/boom":
            status = 500
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("X-Powered-By", "Stub/1.0")
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = _answer

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def site() -> Iterator[str]:
    _Site.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Site)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_the_crawl_sends_every_operation_follows_same_origin_links_and_stops_at_its_bounds(site):
    doc = {"openapi": "3.1.0", "paths": {"/health": {"get": {}}, "/boom": {"post": {}}}}
    crawl = collect(site, doc, creds=creds("s3cret"), entry_paths=["/"], extra_urls=[], timeout_s=5, max_pages=10)
    got = [(m, p) for m, p, _, _ in _Site.seen]
    assert got[:2] == [("GET", "/health"), ("POST", "/boom")]
    assert ("GET", "/docs") in got and ("GET", "/deep") in got and ("GET", "/deeper") not in got
    assert all(auth == "Bearer s3cret" and origin == CORS_PROBE_ORIGIN for _, _, auth, origin in _Site.seen)
    assert not crawl.failures
    found = {a.pluginid for a in scan(crawl.exchanges)}
    assert {"10037", "90022", "10017", "10020", "10038", "10021"} <= found
    assert json.dumps([e.url for e in crawl.exchanges]).count("elsewhere.example") == 0


def test_the_crawl_reports_what_did_not_answer():
    crawl = collect("http://127.0.0.1:9", None, creds=None, entry_paths=["/"], extra_urls=[], timeout_s=2)
    assert crawl.exchanges == [] and crawl.failures and "ConnectionError" in crawl.failures[0]


def test_on_a_target_the_harness_did_not_start_the_crawl_sends_only_safe_allowed_operations_with_the_profile_auth(
    site,
):
    """No POST reaches an external target (the crawl itself only GETs); an excluded GET is not sent either;
    both are listed with the reason. The token is carried as the profile says (here `Token`)."""
    doc = {
        "openapi": "3.1.0",
        "paths": {
            "/health": {"get": {}},
            "/boom": {"post": {}},
            "/admin/wipe": {"get": {"tags": ["admin"]}},
        },
    }
    scope = Scope(Operations(exclude_tags=("admin",)), ephemeral=False, allow_unsafe=False)
    token = creds("s3cret", prefix="Token ")
    crawl = collect(site, doc, creds=token, entry_paths=["/"], extra_urls=[], timeout_s=5, max_pages=10, scope=scope)
    methods = {m for m, _, _, _ in _Site.seen}
    assert methods == {"GET"} and ("GET", "/admin/wipe") not in [(m, p) for m, p, _, _ in _Site.seen]
    assert all(auth == "Token s3cret" for _, _, auth, _ in _Site.seen)
    assert [s.split(":")[0] for s in crawl.skipped] == ["POST /boom", "GET /admin/wipe"]
    assert "unsafe and the harness did not start this target" in crawl.skipped[0]
    assert "operations.exclude_tags" in crawl.skipped[1]
    _Site.seen = []
    allowed = Scope(Operations(), ephemeral=False, allow_unsafe=True)
    crawl = collect(site, doc, creds=token, entry_paths=[], extra_urls=[], timeout_s=5, scope=allowed)
    assert ("POST", "/boom") in [(m, p) for m, p, _, _ in _Site.seen] and crawl.skipped == []
