"""[tool.harness.security] options, checked on load. Every key can be overridden by HARNESS_SECURITY_<KEY>;
the common ones also by a short name: ZAP_API_URL, HARNESS_ZAP_REPORT, HARNESS_TRIVY_BIN,
HARNESS_TRIVY_CACHE_DIR, HARNESS_TRIVY_IMAGE, HARNESS_TRIVY_REPORT. The ZAP API key comes only from
ZAP_API_KEY (a secret is never read from a file in the repository).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.config import Settings
from harness.errors import ConfigError, did_you_mean
from harness.security.trivy import default_cache_dir

ANONYMOUS_WS = ("ping-only", "refuse")
ALIASES = {
    "zap_api_url": "ZAP_API_URL",
    "zap_report": "HARNESS_ZAP_REPORT",
    "trivy_bin": "HARNESS_TRIVY_BIN",
    "trivy_cache_dir": "HARNESS_TRIVY_CACHE_DIR",
    "trivy_image": "HARNESS_TRIVY_IMAGE",
    "trivy_reports": "HARNESS_TRIVY_REPORT",
}
# key -> (type, default); a tuple type is a list of strings (comma-separated in the environment)
_SPEC: dict[str, tuple[type, Any]] = {
    "openapi_url": (str, None),
    "public_operations": (tuple, ("GET /health", "GET /metrics")),  # the guide's smoke tests call them anonymously
    "entry_paths": (tuple, ("/", "/docs", "/redoc")),
    "max_pages": (int, 50),
    "timeout_s": (float, 10.0),
    "rules_file": (Path, None),  # None: harness/security/zap-baseline.rules
    "waivers_file": (Path, Path("security/waivers.toml")),
    "zap_api_url": (str, None),
    "zap_target_url": (str, None),  # how ZAP reaches the target, when not the target's own URL
    "zap_timeout_s": (float, 300.0),
    "zap_report": (Path, None),
    "deploy_dir": (Path, Path("deploy")),
    "trivy_bin": (str, "trivy"),
    "trivy_cache_dir": (Path, None),  # None: trivy's own default (~/.cache/trivy)
    "trivy_fs": (bool, True),
    "trivy_skip_dirs": (tuple, (".git", ".venv", ".tox", ".hypothesis", ".ruff_cache", "reports", "node_modules")),
    "trivy_image": (str, None),
    "trivy_reports": (tuple, ()),
    "trivy_db_download": (bool, False),
    "trivy_timeout_s": (float, 300.0),
    "websocket_paths": (tuple, ("/chat/ws/{user_id}/{session_id}",)),
    "websocket_anonymous": (str, "ping-only"),
    "tls_min_days": (float, 14.0),
    "tls_ca_file": (Path, None),
    "require_https": (bool, False),
}
KEYS = tuple(_SPEC)


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
    deploy_dir: Path
    trivy_bin: str
    trivy_cache_dir: Path
    trivy_fs: bool
    trivy_skip_dirs: tuple[str, ...]
    trivy_image: str | None
    trivy_reports: tuple[Path, ...]
    trivy_db_download: bool
    trivy_timeout_s: float
    websocket_paths: tuple[str, ...]
    websocket_anonymous: str
    tls_min_days: float
    tls_ca_file: Path | None
    require_https: bool
    project_root: Path


def _coerce(key: str, value: Any, where: str) -> Any:
    kind = _SPEC[key][0]
    try:
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        if kind is tuple:
            items = value.split(",") if isinstance(value, str) else list(value)
            return tuple(str(s).strip() for s in items if str(s).strip())
        if kind is bool:
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text not in ("1", "0", "true", "false", "yes", "no", "on", "off"):
                raise ValueError
            return text in ("1", "true", "yes", "on")
        if kind is Path:
            return Path(str(value).strip())
        if kind in (int, float):
            if isinstance(value, bool):
                raise TypeError
            return kind(str(value).strip()) if isinstance(value, str) else kind(value)
        if not isinstance(value, str):
            raise TypeError
        return value.strip()
    except (TypeError, ValueError):
        raise ConfigError(f"{where}: {key} = {value!r} is not a valid {kind.__name__}") from None


def security_options(settings: Settings, env: dict[str, str] | None = None) -> SecurityOptions:
    """Build from [tool.harness.security], then HARNESS_SECURITY_<KEY> and the short aliases."""
    env = dict(os.environ if env is None else env)
    raw: dict[str, Any] = dict(settings.options("security"))
    where = "[tool.harness.security]"
    values: dict[str, Any] = {k: default for k, (_, default) in _SPEC.items()}
    for key, value in raw.items():
        if key not in _SPEC:
            raise ConfigError(f"{where}: unknown key {key!r}{did_you_mean(key, KEYS)}")
        values[key] = _coerce(key, value, where)
    for key in KEYS:
        for name in (f"HARNESS_SECURITY_{key.upper()}", ALIASES.get(key)):
            if name and name in env:
                values[key] = _coerce(key, env[name], f"environment {name}")
    root = settings.project_root

    def path(p: Path | None) -> Path | None:
        return None if p is None else p if p.is_absolute() else root / p

    anonymous = values["websocket_anonymous"] or "ping-only"
    if anonymous not in ANONYMOUS_WS:
        raise ConfigError(
            f"{where}: websocket_anonymous = {anonymous!r} is not one of {', '.join(ANONYMOUS_WS)}"
            f"{did_you_mean(anonymous, ANONYMOUS_WS)}"
        )
    for key in ("timeout_s", "zap_timeout_s", "trivy_timeout_s"):
        if values[key] is None or values[key] <= 0:
            raise ConfigError(f"{where}: {key} must be a positive number of seconds")
    if values["max_pages"] is None or values["max_pages"] < 0:
        raise ConfigError(f"{where}: max_pages must be >= 0")
    for op in values["public_operations"] or ():
        method, _, route = op.partition(" ")
        if not route.startswith("/") or method.upper() != method:
            raise ConfigError(f"{where}: public_operations entry {op!r} is not 'METHOD /path' (e.g. 'GET /health')")
    zap_url = values["zap_api_url"]
    if zap_url and not zap_url.startswith(("http://", "https://")):
        raise ConfigError(
            f"ZAP_API_URL {zap_url!r} must be an http:// URL of a ZAP daemon (e.g. http://127.0.0.1:8090)"
        )
    return SecurityOptions(
        openapi_url=values["openapi_url"],
        public_operations=tuple(values["public_operations"] or ()),
        entry_paths=tuple(values["entry_paths"] or ()),
        max_pages=int(values["max_pages"]),
        timeout_s=float(values["timeout_s"]),
        rules_file=path(values["rules_file"]),
        waivers_file=path(values["waivers_file"]) or root / "security/waivers.toml",
        zap_api_url=zap_url,
        zap_api_key=env.get("ZAP_API_KEY") or None,
        zap_target_url=values["zap_target_url"],
        zap_timeout_s=float(values["zap_timeout_s"]),
        zap_report=path(values["zap_report"]),
        deploy_dir=path(values["deploy_dir"]) or root / "deploy",
        trivy_bin=values["trivy_bin"] or "trivy",
        trivy_cache_dir=path(values["trivy_cache_dir"]) or default_cache_dir(),
        trivy_fs=bool(values["trivy_fs"]) if values["trivy_fs"] is not None else True,
        trivy_skip_dirs=tuple(values["trivy_skip_dirs"] or ()),
        trivy_image=values["trivy_image"],
        trivy_reports=tuple(p for p in (path(Path(r)) for r in values["trivy_reports"] or ()) if p is not None),
        trivy_db_download=bool(values["trivy_db_download"]),
        trivy_timeout_s=float(values["trivy_timeout_s"]),
        websocket_paths=tuple(values["websocket_paths"] or ()),
        websocket_anonymous=anonymous,
        tls_min_days=float(values["tls_min_days"] if values["tls_min_days"] is not None else 14.0),
        tls_ca_file=path(values["tls_ca_file"]),
        require_https=bool(values["require_https"]),
        project_root=root,
    )


def export_flags(*, zap_report: Path | None = None, trivy_cache_dir: Path | None = None) -> None:
    """Hand `harness gate --zap-report/--trivy-cache-dir` to the suites' child process (environment layer)."""
    if zap_report is not None:
        os.environ[ALIASES["zap_report"]] = str(zap_report.resolve())
    if trivy_cache_dir is not None:
        os.environ[ALIASES["trivy_cache_dir"]] = str(trivy_cache_dir.resolve())
