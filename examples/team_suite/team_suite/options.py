"""[tool.harness.team_headers] options, through the harness's own loader (every number bounded)."""

from __future__ import annotations

from dataclasses import dataclass

from harness.options import Option, OptionSpec, positive, suite_options

SPEC = OptionSpec(
    "team_headers",
    (
        Option("paths", tuple, ("/health", "/features")),  # GETs whose responses are looked at
        Option("headers", tuple, ("Server", "X-Powered-By", "X-AspNet-Version")),  # headers that must name no version
        Option("timeout_s", float, 10.0, check=positive("number of seconds"), high=120),
    ),
)
MAX_PATHS = 50


@dataclass(frozen=True, slots=True)
class TeamHeadersOptions:
    paths: tuple[str, ...]
    headers: tuple[str, ...]
    timeout_s: float


def team_headers_options(settings) -> TeamHeadersOptions:
    """The run's options; a bad value is one ConfigError line (exit 64 before anything starts)."""
    from harness.errors import ConfigError

    got = suite_options(SPEC, settings)
    paths = tuple(got["paths"])
    if not paths or len(paths) > MAX_PATHS or not all(p.startswith("/") for p in paths):
        raise ConfigError(
            f"team_headers option paths ({got.where('paths')}): 1 to {MAX_PATHS} paths, each starting with '/'"
        )
    return TeamHeadersOptions(paths=paths, headers=tuple(got["headers"]), timeout_s=got["timeout_s"])
