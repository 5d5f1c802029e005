"""The ZAP daemon path, against a local stand-in that speaks the ZAP API endpoints the client calls.

There is no ZAP build on these machines: the stand-in answers like ZAP 2.16's JSON API (requests come
through it as an HTTP proxy, to http://zap/JSON/...), so this proves our side of the conversation: the
calls, their order, the auth replacer rule and its removal, the API key, paging, timeouts, failures.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from harness.security.errors import ZapUnavailable
from harness.security.rules import load_rules
from harness.security.zap_client import zap_scan
from harness.security.zap_report import findings_from_alerts

TARGET = "http://127.0.0.1:8000"


def api_alert(pid: str, risk: str, url: str, name: str) -> dict[str, Any]:
    return {
        "pluginId": pid,
        "alertRef": pid,
        "alert": name,
        "name": name,
        "risk": risk,
        "confidence": "Medium",
        "url": url,
        "method": "GET",
        "param": "",
        "attack": "",
        "evidence": "",
        "other": "",
        "messageId": "1",
        "cweid": "693",
        "wascid": "15",
        "sourceid": "3",
        "description": "",
        "solution": "",
        "reference": "",
    }


class StandIn(BaseHTTPRequestHandler):
    """Enough of ZAP's API for a baseline scan; `state` is per server."""

    state: dict[str, Any]

    def _json(self, status: int, body: Any) -> None:
        data = (body if isinstance(body, str) else json.dumps(body)).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        st = self.state
        parts = urlsplit(self.path)  # through a proxy the request line carries the absolute URI
        q = {k: v[0] for k, v in parse_qs(parts.query).items()}
        st["calls"].append((parts.netloc, parts.path, q, self.headers.get("X-ZAP-API-Key")))
        if st.get("key") and self.headers.get("X-ZAP-API-Key") != st["key"]:
            return self._json(403, {"code": "bad_api_key", "message": "Missing or invalid API key"})
        route = parts.path
        if route == "/JSON/core/view/version/":
            return self._json(200, {"version": "2.16.0"})
        if route == "/JSON/replacer/action/addRule/":
            st["rules"][q["description"]] = q
            return self._json(200, {"Result": "OK"})
        if route == "/JSON/replacer/action/removeRule/":
            if st.get("keep_rule"):
                return self._json(500, {"code": "internal_error", "message": "cannot remove"})
            st["rules"].pop(q["description"], None)
            return self._json(200, {"Result": "OK"})
        if route == "/JSON/openapi/action/importUrl/":
            st["imported"] = q["url"]
            return self._json(200, {"importUrl": []})
        if route == "/JSON/spider/action/setOptionPostForm/":
            st["post_form"] = q["Boolean"]
            return self._json(200, {"Result": "OK"})
        if route == "/JSON/spider/action/scan/":
            return self._json(200, {"scan": "7"})
        if route == "/JSON/spider/view/status/":
            st["polls"] += 1
            done = not st.get("hang") and st["polls"] >= 2
            return self._json(200, {"status": "100" if done else "40"})
        if route == "/JSON/spider/view/results/":
            return self._json(200, {"results": [f"{TARGET}/", f"{TARGET}/docs"]})
        if route == "/JSON/pscan/view/recordsToScan/":
            st["records"] = max(st["records"] - 2, 0)
            return self._json(200, {"recordsToScan": str(st["records"])})
        if route == "/JSON/core/view/alerts/":
            start, count = int(q.get("start", 0)), int(q.get("count", 10**6))
            return self._json(200, {"alerts": st["alerts"][start : start + count]})
        if route == "/OTHER/core/other/jsonreport/":
            return self._json(200, {"@programName": "ZAP", "site": []})
        return self._json(400, {"code": "bad_view", "message": f"No such view {route}"})

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def zap() -> Iterator[dict[str, Any]]:
    state: dict[str, Any] = {"calls": [], "rules": {}, "polls": 0, "records": 5, "alerts": []}
    handler = type("Handler", (StandIn,), {"state": state})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state["url"] = f"http://127.0.0.1:{server.server_address[1]}"
    yield state
    server.shutdown()
    server.server_close()


def scan(zap: dict[str, Any], **kw: Any):
    args = {
        "api_key": "k3y",
        "target_url": TARGET,
        "openapi_url": f"{TARGET}/openapi.json",
        "auth_header": ("Authorization", "Bearer tok"),
        "timeout_s": 10,
        "request_timeout_s": 5,
        "poll_s": 0.01,
    }
    args.update(kw)
    return zap_scan(zap["url"], args.pop("api_key"), **args)


def test_a_baseline_scan_through_the_daemon(zap):
    zap["key"] = "k3y"
    zap["alerts"] = [
        api_alert("10037", "Low", f"{TARGET}/health", "Server Leaks Information via X-Powered-By"),
        api_alert("10037", "Low", f"{TARGET}/metrics", "Server Leaks Information via X-Powered-By"),
        api_alert("10027", "Informational", f"{TARGET}/docs", "Information Disclosure - Suspicious Comments"),
    ] + [api_alert("10049", "Informational", f"{TARGET}/p{i}", "Storable and Cacheable Content") for i in range(600)]
    result = scan(zap)
    assert result.version == "2.16.0" and result.spider_urls == 2 and result.notes == []
    routes = [path for netloc, path, _, _ in zap["calls"]]
    assert all(netloc == "zap" for netloc, _, _, _ in zap["calls"])  # only ever the ZAP API, never the target
    assert routes[:4] == [
        "/JSON/core/view/version/",
        "/JSON/replacer/action/addRule/",
        "/JSON/openapi/action/importUrl/",
        "/JSON/spider/action/scan/",
    ]
    assert routes[-1] == "/JSON/replacer/action/removeRule/" and zap["rules"] == {}
    assert routes.count("/JSON/core/view/alerts/") == 2  # paged by 500
    add = next(q for _, p, q, _ in zap["calls"] if p == "/JSON/replacer/action/addRule/")
    assert (
        add["matchType"] == "REQ_HEADER"
        and add["matchString"] == "Authorization"
        and add["replacement"] == "Bearer tok"
    )
    assert zap["imported"] == f"{TARGET}/openapi.json"
    assert all(key == "k3y" for _, _, _, key in zap["calls"])
    by_id = {a.pluginid: a for a in result.alerts}
    assert len(by_id["10037"].instances) == 2 and len(by_id["10049"].instances) == 600
    findings = findings_from_alerts(result.alerts, load_rules(None))
    assert {f.rule_id for f in findings if f.blocking} == {"10037"}
    assert {f.source for f in findings} == {"zap"}


def test_an_unreachable_daemon_is_one_line():
    with pytest.raises(ZapUnavailable) as exc:
        zap_scan(
            "http://127.0.0.1:9",
            None,
            target_url=TARGET,
            openapi_url=None,
            auth_header=None,
            timeout_s=5,
            request_timeout_s=2,
        )
    assert "ZAP daemon at http://127.0.0.1:9 is unreachable" in str(exc.value) and "unset ZAP_API_URL" in str(exc.value)


def test_a_spider_that_never_finishes_times_out_and_the_auth_rule_is_still_removed(zap):
    zap["hang"] = True
    with pytest.raises(ZapUnavailable, match="the spider did not finish in time"):
        scan(zap, timeout_s=0.5)
    assert zap["rules"] == {}


def test_a_refused_api_key_is_one_line(zap):
    zap["key"] = "right"
    with pytest.raises(ZapUnavailable) as exc:
        scan(zap, api_key="wrong")
    assert "core/view/version/ answered HTTP 403" in str(exc.value)


def test_a_replacer_rule_that_cannot_be_removed_is_reported_not_swallowed(zap):
    zap["keep_rule"] = True
    result = scan(zap)
    assert zap["rules"] and len(result.notes) == 1
    assert "could not be removed from the ZAP daemon (ZapApiError); remove it by hand" in result.notes[0]


def test_the_auth_rule_follows_the_profile_and_a_safe_only_scan_neither_imports_the_document_nor_posts_forms(zap):
    """On a target the harness did not start, ZAP's OpenAPI import (it calls every operation, DELETE too)
    is not made, and the spider submits no form; the notes say so. The header is the profile's."""
    result = scan(zap, auth_header=("X-Api-Key", "Token tok"), safe_only=True)
    routes = [path for _, path, _, _ in zap["calls"]]
    assert "/JSON/openapi/action/importUrl/" not in routes and "imported" not in zap
    assert zap["post_form"] in ("False", "false")
    add = next(q for _, p, q, _ in zap["calls"] if p == "/JSON/replacer/action/addRule/")
    assert add["matchString"] == "X-Api-Key" and add["replacement"] == "Token tok"
    assert any("not imported into ZAP" in n for n in result.notes) and any("forms" in n for n in result.notes)
    zap["calls"].clear()
    scan(zap, auth_header=None)
    routes = [path for _, path, _, _ in zap["calls"]]
    assert "/JSON/openapi/action/importUrl/" in routes and "/JSON/replacer/action/addRule/" not in routes
