"""A running ZAP daemon (ZAP_API_URL), driven with the `zaproxy` client: import the OpenAPI document,
spider, wait for the passive scan, read the alerts. Every API call and every wait is bounded.

The API token reaches ZAP only as a replacer rule on the header the service profile's auth scheme names
(so ZAP's own requests are authenticated, as zap-baseline's auth hooks do); the rule is removed
afterwards, and every report is redacted anyway.

safe_only (a target the harness did not start, without --allow-unsafe): ZAP's OpenAPI import calls every
operation of the document, whatever its method, and its spider submits forms, so the document is not
imported and the spider is told not to POST forms; the notes say so.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests
from zapv2 import ZAPv2

from harness.security.errors import ZapUnavailable
from harness.security.zap_report import Alert, from_api_alerts

AUTH_RULE = "ai-orchestra-harness auth"
PAGE = 500


class BoundedZAP(ZAPv2):
    """ZAPv2 whose API calls time out (the stock client waits forever) and fail on HTTP errors."""

    def __init__(self, api_url: str, api_key: str | None, timeout_s: float) -> None:
        proxies = {"http": api_url, "https": api_url}
        super().__init__(proxies=proxies, apikey=api_key)
        self._bounded_proxies = proxies
        self._bounded_key = api_key
        self._bounded_timeout = timeout_s

    def _request_api(self, url: str, query: Any = None, method: str = "GET", body: Any = None) -> requests.Response:
        if not url.startswith("http://zap/"):
            raise ValueError(f"not a ZAP API URL: {url}")  # never send the API key anywhere else
        with requests.Session() as session:
            session.trust_env = False  # the API goes to ZAP_API_URL, never through an environment proxy
            if self._bounded_key:
                session.headers["X-ZAP-API-Key"] = self._bounded_key
            resp = session.request(
                method, url, params=query, data=body, proxies=self._bounded_proxies, timeout=self._bounded_timeout
            )
        if resp.status_code >= 300:
            detail = resp.text[:160].replace("\n", " ")
            raise ZapApiError(f"{url.removeprefix('http://zap/')} answered HTTP {resp.status_code}: {detail}")
        return resp


class ZapApiError(Exception):
    """A ZAP API call was refused."""


@dataclass(slots=True)
class ZapResult:
    version: str
    alerts: list[Alert]
    report_json: str
    spider_urls: int
    notes: list[str] = field(default_factory=list)  # what went wrong around the scan (e.g. cleanup)


def _wait(what: str, done: Callable[[], bool], deadline: float, poll_s: float) -> None:
    while not done():
        if time.monotonic() > deadline:
            raise ZapUnavailable(f"ZAP: the {what} did not finish in time; raise zap_timeout_s or check the daemon")
        time.sleep(poll_s)


def zap_scan(
    api_url: str,
    api_key: str | None,
    *,
    target_url: str,
    openapi_url: str | None,
    auth_header: tuple[str, str] | None,
    timeout_s: float,
    request_timeout_s: float = 10.0,
    poll_s: float = 1.0,
    safe_only: bool = False,
) -> ZapResult:
    """Run a baseline-style passive scan with the daemon; ZapUnavailable (one line) on any failure.
    auth_header: the (name, value) header ZAP adds to its requests, as the service profile's auth makes it."""
    zap = BoundedZAP(api_url, api_key, request_timeout_s)
    deadline = time.monotonic() + timeout_s
    notes: list[str] = []
    try:
        try:
            version = str(zap.core.version)
        except requests.RequestException as exc:
            raise ZapUnavailable(
                f"ZAP daemon at {api_url} is unreachable ({type(exc).__name__}); start it, or unset ZAP_API_URL "
                "to use the native passive rules alone"
            ) from None
        if auth_header:
            zap.replacer.add_rule(
                description=AUTH_RULE,
                enabled="true",
                matchtype="REQ_HEADER",
                matchregex="false",
                matchstring=auth_header[0],
                replacement=auth_header[1],
            )
        try:
            if safe_only:
                zap.spider.set_option_post_form(False)
                notes.append(
                    "the spider was told not to submit forms (setOptionPostForm false): a target the harness did "
                    "not start"
                )
            if openapi_url and openapi_url.startswith(("http://", "https://")):
                if safe_only:
                    notes.append(
                        "the OpenAPI document was not imported into ZAP (its import calls every operation, unsafe "
                        "ones too): a target the harness did not start; --allow-unsafe lifts this"
                    )
                else:
                    zap.openapi.import_url(openapi_url, hostoverride=None)
            scan_id = str(zap.spider.scan(url=target_url))
            if not scan_id.isdigit():
                raise ZapUnavailable(f"ZAP: spider did not start on {target_url} ({scan_id[:120]})")
            _wait("spider", lambda: int(zap.spider.status(scan_id)) >= 100, deadline, poll_s)
            spider_urls = len(zap.spider.results(scan_id) or [])
            _wait("passive scan", lambda: int(zap.pscan.records_to_scan) == 0, deadline, poll_s)
            raw: list[dict[str, Any]] = []
            while True:
                page = zap.core.alerts(baseurl=target_url, start=len(raw), count=PAGE)
                raw.extend(page)
                if len(page) < PAGE or len(raw) >= 50_000:
                    break
            report_json = zap.core.jsonreport()
        finally:
            if auth_header:
                try:
                    zap.replacer.remove_rule(description=AUTH_RULE)
                except (requests.RequestException, ZapApiError) as exc:  # the scan's result stands; say so
                    notes.append(
                        f"the replacer rule {AUTH_RULE!r} (it carries the token) could not be removed from the "
                        f"ZAP daemon ({type(exc).__name__}); remove it by hand"
                    )
    except requests.RequestException as exc:
        raise ZapUnavailable(
            f"ZAP daemon at {api_url} stopped answering ({type(exc).__name__}) during the scan"
        ) from None
    except ZapApiError as exc:
        raise ZapUnavailable(f"ZAP daemon at {api_url}: {exc}") from None
    except (ValueError, TypeError) as exc:
        raise ZapUnavailable(f"ZAP daemon at {api_url} answered something unexpected ({exc})") from None
    return ZapResult(
        version=version, alerts=from_api_alerts(raw), report_json=report_json, spider_urls=spider_urls, notes=notes
    )
