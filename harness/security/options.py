"""[tool.harness.security] options, checked on load. Every key can be overridden by HARNESS_SECURITY_<KEY>;
the common ones also by a short name: ZAP_API_URL, HARNESS_ZAP_REPORT, HARNESS_TRIVY_BIN,
HARNESS_TRIVY_CACHE_DIR, HARNESS_TRIVY_IMAGE, HARNESS_TRIVY_REPORT; `harness gate --zap-report
--trivy-cache-dir` win over both (harness.options). The ZAP API key comes only from ZAP_API_KEY (a
secret is never read from a file in the repository).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.config import Settings
from harness.errors import ConfigError
from harness.options import Option, OptionSpec, absolute, at_least, http_url, positive, suite_options
from harness.security.trivy import MAX_DB_AGE_H, default_cache_dir

ANONYMOUS_WS = ("ping-only", "refuse")


def _operations(key: str, value: Any, where: str) -> Any:
    for op in value or ():
        method, _, route = op.partition(" ")
        if not route.startswith("/") or method.upper() != method:
            raise ConfigError(f"{where}: {key} entry {op!r} is not 'METHOD /path' (e.g. 'GET /health')")
    return value


_SECONDS = positive("number of seconds")
# Every key is also HARNESS_SECURITY_<KEY>; the aliases are the documented short names.
SPEC = OptionSpec(
    "security",
    (
        Option("openapi_url", str),
        # added to the service profile's operations.public (an override for one deployment)
        Option("public_operations", tuple, (), check=_operations),
        Option("entry_paths", tuple, ("/", "/docs", "/redoc")),
        Option("max_pages", int, 50, check=at_least(0), high=100_000),
        Option("timeout_s", float, 10.0, check=_SECONDS, high=600),
        Option("rules_file", Path),  # None: harness/security/zap-baseline.rules
        Option("waivers_file", Path, Path("security/waivers.toml")),
        Option(
            "zap_api_url",
            str,
            aliases=("ZAP_API_URL",),
            check=http_url("of a ZAP daemon (e.g. http://127.0.0.1:8090)"),
        ),
        Option("zap_target_url", str),  # how ZAP reaches the target, when not the target's own URL
        Option("zap_timeout_s", float, 300.0, check=_SECONDS, high=86400),
        Option("zap_report", Path, aliases=("HARNESS_ZAP_REPORT",), flag="--zap-report"),
        Option("deploy_dir", Path),  # None: <the profile's files.source>/deploy if it exists, else the source
        Option("trivy_bin", str, "trivy", aliases=("HARNESS_TRIVY_BIN",)),
        # None: trivy's own default (~/.cache/trivy)
        Option("trivy_cache_dir", Path, aliases=("HARNESS_TRIVY_CACHE_DIR",), flag="--trivy-cache-dir"),
        Option("trivy_fs", bool, True),
        Option(
            "trivy_skip_dirs", tuple, (".git", ".venv", ".tox", ".hypothesis", ".ruff_cache", "reports", "node_modules")
        ),
        Option("trivy_image", str, aliases=("HARNESS_TRIVY_IMAGE",)),
        Option("trivy_reports", tuple, (), aliases=("HARNESS_TRIVY_REPORT",)),
        Option("trivy_db_download", bool, False),
        Option("trivy_timeout_s", float, 300.0, check=_SECONDS, high=86400),
        # a cached vulnerability DB older than this (db/metadata.json UpdatedAt) leaves security.trivy_vulns missing
        Option("max_db_age_h", float, MAX_DB_AGE_H, check=positive("number of hours"), high=24 * 365),
        Option("websocket_paths", tuple),  # None: the service profile's paths.websocket
        Option("websocket_anonymous", str, "ping-only", choices=ANONYMOUS_WS),
        Option("tls_min_days", float, 14.0, high=3650),
        Option("tls_ca_file", Path),
        Option("require_https", bool, False),
    ),
    blank="none",  # HARNESS_SECURITY_WEBSOCKET_PATHS= clears the list
)
ALIASES = {o.key: o.aliases[0] for o in SPEC.options if o.aliases}
KEYS = tuple(o.key for o in SPEC.options)


@dataclass(frozen=True, slots=True)
class SecurityOptions:
    """What the security suite needs to know besides the Target."""

    openapi_url: str | None
    public_operations: tuple[str, ...]
    entry_paths: tuple[str, ...]
    max_pages: int
    timeout_s: float
    rules_file: Path | None
    waivers_file: Path
    zap_api_url: str | None
    zap_api_key: str | None
    zap_target_url: str | None
    zap_timeout_s: float
    zap_report: Path | None
    deploy_dir: Path | None  # given: the directory `trivy config` scans; None: from the service profile
    trivy_bin: str
    trivy_cache_dir: Path
    trivy_fs: bool
    trivy_skip_dirs: tuple[str, ...]
    trivy_image: str | None
    trivy_reports: tuple[Path, ...]
    trivy_db_download: bool
    trivy_timeout_s: float
    max_db_age_h: float
    websocket_paths: tuple[str, ...] | None  # given (blank: none); None: the service profile's paths.websocket
    websocket_anonymous: str
    tls_min_days: float
    tls_ca_file: Path | None
    require_https: bool
    project_root: Path

    def check_before_start(self, settings: Settings) -> None:
        """The gate's check before anything starts (harness/gate.py): a file the user named must be there, and a
        ZAP report must be one (read now, bounded: bad input, not a scan). One ConfigError line."""
        named = [("zap_report", self.zap_report), ("rules_file", self.rules_file), ("tls_ca_file", self.tls_ca_file)]
        named += [("trivy_reports", p) for p in self.trivy_reports]
        for key, file in named:
            if file is not None and not file.is_file():
                raise ConfigError(f"security option {key}: {file} does not exist (or is not a file)")
        if self.zap_report is not None:
            from harness.security.errors import ZapReportError
            from harness.security.zap_report import read_report

            try:
                read_report(self.zap_report)
            except ZapReportError as exc:
                raise ConfigError(f"--zap-report: {exc}") from None


def security_options(settings: Settings, env: dict[str, str] | None = None) -> SecurityOptions:
    """Build from [tool.harness.security], then HARNESS_SECURITY_<KEY> and the short aliases, then the
    flags of `harness gate` (--zap-report, --trivy-cache-dir) handed down in Settings.suite_flags."""
    env = dict(os.environ if env is None else env)
    values = suite_options(SPEC, settings, env)
    root = settings.project_root

    def path(key: str) -> Path | None:
        return absolute(values[key], root)

    return SecurityOptions(
        openapi_url=values["openapi_url"],
        public_operations=tuple(values["public_operations"] or ()),
        entry_paths=tuple(values["entry_paths"] or ()),
        max_pages=int(values["max_pages"]),
        timeout_s=float(values["timeout_s"]),
        rules_file=path("rules_file"),
        waivers_file=path("waivers_file") or root / "security/waivers.toml",
        zap_api_url=values["zap_api_url"],
        zap_api_key=env.get("ZAP_API_KEY") or None,
        zap_target_url=values["zap_target_url"],
        zap_timeout_s=float(values["zap_timeout_s"]),
        zap_report=path("zap_report"),
        deploy_dir=path("deploy_dir") if values.given("deploy_dir") else None,
        trivy_bin=values["trivy_bin"] or "trivy",
        trivy_cache_dir=path("trivy_cache_dir") or default_cache_dir(),
        trivy_fs=values["trivy_fs"] if values["trivy_fs"] is not None else True,
        trivy_skip_dirs=tuple(values["trivy_skip_dirs"] or ()),
        trivy_image=values["trivy_image"],
        trivy_reports=tuple(p for p in (absolute(r, root) for r in values["trivy_reports"] or ()) if p is not None),
        trivy_db_download=bool(values["trivy_db_download"]),
        trivy_timeout_s=float(values["trivy_timeout_s"]),
        max_db_age_h=float(values["max_db_age_h"]),
        websocket_paths=tuple(values["websocket_paths"] or ()) if values.given("websocket_paths") else None,
        websocket_anonymous=values["websocket_anonymous"] or "ping-only",
        tls_min_days=float(values["tls_min_days"] if values["tls_min_days"] is not None else 14.0),
        tls_ca_file=path("tls_ca_file"),
        require_https=bool(values["require_https"]),
        project_root=root,
    )
