"""The service profile: what the harness must know about the service it gates, as data.

A team keeps it in its own repository (`service.toml`, given by `service_file` / `--service FILE` /
`HARNESS_SERVICE_FILE`) or as `[tool.harness.service]`; without one, the reference app's profile
(`harness/service/ai-orchestra.toml`) applies. One schema (the pydantic models below), validated on load:
every problem is one ConfigError line naming the file and the key.

Secrets are never in a profile: it names the environment variables that hold them.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from harness.errors import ConfigError
from harness.jsonfile import parse_toml, read_text

DEFAULT_PROFILE = Path(__file__).with_name("ai-orchestra.toml")
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
HTTP_METHODS = ("GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE")
BUILTIN_SMOKE = ("websocket", "metrics", "roundtrip", "store")  # the reference app's checks in code
_OPERATION = re.compile(r"^(GET|HEAD|OPTIONS|POST|PUT|PATCH|DELETE|TRACE|\*) (/\S*)$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# "{secret:NAME}": a secret from the environment (redacted from every report); "{env:NAME}": a plain value;
# "{secret_b64:NAME}": a secret the variable holds base64-encoded, for a test password shorter than the 8
# characters a secret needs to be redacted safely: the variable (the encoding, redacted) is all a person
# writes, the decoded value goes only into the login request and is never written to a report
_PLACEHOLDER = re.compile(r"\{(env|secret|secret_b64):([A-Za-z_][A-Za-z0-9_]*)\}")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _path(value: str | None) -> str | None:
    if value is None or value == "":
        return None
    if not value.startswith("/"):
        raise ValueError(f"{value!r} must start with '/' (a path on the service, e.g. /health)")
    return value


def _env_name(value: str | None) -> str | None:
    if value and not _ENV_NAME.match(value):
        raise ValueError(f"{value!r} is not an environment variable name")
    return value or None


class Paths(_Model):
    """Where the service answers; an empty or missing path means the service has none."""

    health: str | None = None
    openapi: str | None = None
    metrics: str | None = None
    websocket: str | None = None  # a template: /chat/ws/{user_id}/{session_id}

    @field_validator("health", "openapi", "metrics", "websocket")
    @classmethod
    def _check(cls, v: str | None) -> str | None:
        return _path(v)


class Files(_Model):
    """Files of the service's own repository (relative to the profile file)."""

    source: str | None = None  # what trivy scans (config and vulnerabilities); none: no trivy scan
    openapi_baseline: str | None = None
    alert_rules: str | None = None
    alert_tests: str | None = None
    dashboard: str | None = None


class Login(_Model):
    """A login request that returns a token; its body takes values from the environment: "{secret:NAME}" for
    a secret (a password), "{env:NAME}" for a plain value (a user name)."""

    method: Literal["POST", "PUT", "GET"] = "POST"
    path: str
    json_body: dict[str, Any] = Field(default_factory=dict, alias="json")
    token_field: str = "access_token"  # dotted path in the JSON answer
    expires_in_field: str | None = "expires_in"  # seconds, if the answer says
    lifetime_s: float = Field(default=300.0, gt=0)  # when the answer does not say
    refresh_margin: float = Field(default=0.25, ge=0, lt=1)  # refresh when this share of the lifetime is left

    @field_validator("path")
    @classmethod
    def _p(cls, v: str) -> str | None:
        return _path(v)

    def variables(self) -> list[str]:
        """Every variable the login body reads ("{env:NAME}" and "{secret:NAME}"), for messages."""
        return sorted({name for _, name in _PLACEHOLDER.findall(repr(self.json_body))})

    def env_names(self) -> list[str]:
        """The variables holding secrets ("{secret:NAME}")."""
        return sorted({name for kind, name in _PLACEHOLDER.findall(repr(self.json_body)) if kind.startswith("secret")})


class Identity(_Model):
    """Where a token comes from: a variable of the environment, or a login request."""

    token_env: str | None = None
    login: Login | None = None

    @field_validator("token_env")
    @classmethod
    def _e(cls, v: str | None) -> str | None:
        return _env_name(v)

    @model_validator(mode="after")
    def _one(self) -> Identity:
        if self.token_env and self.login:
            raise ValueError("give token_env or login, not both")
        return self


class Auth(_Model):
    """How a request carries its token: `<name>: <prefix><token>` as a header, ?<name>=<token>, or a cookie."""

    scheme: Literal["header", "query", "cookie", "none"] = "header"
    name: str = "Authorization"
    prefix: str = "Bearer "
    token_env: str | None = "HARNESS_TOKEN"
    login: Login | None = None
    low_privilege: Identity | None = None  # a second identity: admin-only operations must refuse it

    @field_validator("token_env")
    @classmethod
    def _e(cls, v: str | None) -> str | None:
        return _env_name(v)

    @model_validator(mode="after")
    def _one(self) -> Auth:
        if self.login is not None and "token_env" in self.model_fields_set:
            raise ValueError("give token_env or login, not both")
        return self

    @property
    def identity(self) -> Identity:
        return Identity(token_env=None if self.login else self.token_env, login=self.login)


def _operation(value: str) -> str:
    if not _OPERATION.match(value):
        raise ValueError(f"{value!r} is not 'METHOD /path' (e.g. 'GET /health', 'DELETE /users/{{id}}', '* /admin/*')")
    return value


class Operations(_Model):
    """How operations are marked and which ones the harness may call."""

    public: tuple[str, ...] = ()  # need no token
    optional_auth: tuple[str, ...] = ()  # answer with or without a token
    admin_only: tuple[str, ...] = ()  # must refuse the low-privilege identity
    unsafe_allowed: tuple[str, ...] = ()  # unsafe operations fuzzed even on a target the harness did not start
    exclude_methods: tuple[str, ...] = ()
    exclude_paths: tuple[str, ...] = ()  # glob patterns: /admin/*
    exclude_tags: tuple[str, ...] = ()

    @field_validator("public", "optional_auth", "admin_only", "unsafe_allowed")
    @classmethod
    def _ops(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(_operation(x) for x in v)

    @field_validator("exclude_methods")
    @classmethod
    def _methods(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        for m in v:
            if m.upper() not in HTTP_METHODS:
                raise ValueError(f"{m!r} is not an HTTP method ({', '.join(HTTP_METHODS)})")
        return tuple(m.upper() for m in v)


class SmokeCheck(_Model):
    """A smoke check as data: one request, its expected status, and JSONPath expressions that must hold."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    method: Literal["GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE"] = "GET"
    path: str
    status: int = Field(default=200, ge=100, le=599)
    expect: dict[str, Any] = Field(default_factory=dict)  # {"$.status" = "ok"}: the value at the JSONPath
    json_body: Any = Field(default=None, alias="json")
    auth: bool = True

    @field_validator("path")
    @classmethod
    def _p(cls, v: str) -> str | None:
        return _path(v)

    @field_validator("expect")
    @classmethod
    def _jsonpaths(cls, v: dict[str, Any]) -> dict[str, Any]:
        from jsonpath_ng.exceptions import JsonPathParserError
        from jsonpath_ng.ext import parse

        for expr in v:
            try:
                parse(expr)
            except (JsonPathParserError, Exception) as exc:  # noqa: BLE001 - the parser raises several kinds
                raise ValueError(f"{expr!r} is not a JSONPath ({str(exc).splitlines()[0][:80]})") from None
        return v


class LoadEndpoint(_Model):
    name: str | None = None
    method: Literal["GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE"] = "GET"
    path: str
    weight: int = Field(default=1, ge=1, le=1000)
    json_body: Any = Field(default=None, alias="json")
    auth: bool = True

    @field_validator("path")
    @classmethod
    def _p(cls, v: str) -> str | None:
        return _path(v)


class Load(_Model):
    """The load traffic: the reference app's users, the endpoints listed, or the document's safe operations."""

    traffic: Literal["reference", "endpoints", "openapi"] = "reference"
    endpoints: tuple[LoadEndpoint, ...] = ()

    @model_validator(mode="after")
    def _listed(self) -> Load:
        if self.traffic == "endpoints" and not self.endpoints:
            raise ValueError("traffic = 'endpoints' needs at least one [[load.endpoints]] entry")
        return self


class Contract(_Model):
    stateful_seed: int = Field(default=20261126, ge=0)


class Profile(_Model):
    """The whole profile, as written in the file."""

    name: str = "service"
    paths: Paths = Paths()
    files: Files = Files()
    auth: Auth = Auth()
    operations: Operations = Operations()
    smoke: tuple[SmokeCheck, ...] = ()
    builtin_smoke: tuple[Literal["websocket", "metrics", "roundtrip", "store"], ...] = ()
    contract: Contract = Contract()
    load: Load = Load()
    # real values for path (and query) parameters by name: the probes call real objects ([examples]
    # account_id = "1"); without one, the security checks take an id a listing returned
    examples: dict[str, str | int] = Field(default_factory=dict)

    @field_validator("examples")
    @classmethod
    def _examples(cls, v: dict[str, str | int]) -> dict[str, str | int]:
        if len(v) > 100:
            raise ValueError("at most 100 examples")
        for name, value in v.items():
            if not name or len(str(value)) > 1000:
                raise ValueError(f"example {name!r}: a parameter name and a value of at most 1000 characters")
        return v

    @model_validator(mode="after")
    def _unique(self) -> Profile:
        names = [c.name for c in self.smoke]
        twice = sorted({n for n in names if names.count(n) > 1} | (set(names) & set(self.builtin_smoke)))
        if twice:
            raise ValueError(f"smoke check names must be unique: {', '.join(twice)}")
        return self


class ServiceProfile:
    """A validated profile and where it came from (its relative files resolve against `base`)."""

    def __init__(self, profile: Profile, source: str, base: Path) -> None:
        self.data, self.source, self.base = profile, source, base

    def __getattr__(self, name: str) -> Any:
        return getattr(self.data, name)

    def file(self, key: str) -> Path | None:
        """A [files] entry as an absolute path, None when the profile has none."""
        raw = getattr(self.data.files, key)
        if not raw:
            return None
        p = Path(raw)
        return p if p.is_absolute() else (self.base / p).resolve()

    def secret_env_names(self) -> list[str]:
        """Every environment variable the profile reads a secret from."""
        auth = self.data.auth
        ids = [auth.identity, *([auth.low_privilege] if auth.low_privilege else [])]
        names: list[str] = []
        for ident in ids:
            if ident.token_env:
                names.append(ident.token_env)
            if ident.login:
                names += ident.login.env_names()
        return sorted(set(names))

    def describe(self) -> str:
        return f"service profile {self.data.name!r} ({self.source})"


def _parse(table: dict[str, Any], where: str) -> Profile:
    try:
        return Profile.model_validate(table)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err["loc"])
        msg = str(err["msg"]).removeprefix("Value error, ")
        more = f" (and {exc.error_count() - 1} more problem(s))" if exc.error_count() > 1 else ""
        hint = "see docs/guides/gate-your-own-service.md"
        raise ConfigError(f"{where}: {loc or 'profile'}: {msg}{more}; {hint}") from None


def load_file(path: Path) -> ServiceProfile:
    text = read_text(path, "service profile", ConfigError, missing="does not exist")
    table = parse_toml(text, str(path), ConfigError)
    if set(table) == {"service"} and isinstance(table["service"], dict):
        table = table["service"]  # a file may keep everything under [service]
    return ServiceProfile(_parse(table, str(path)), str(path), path.resolve().parent)


def load_profile(
    service_file: Path | None, table: dict[str, Any] | None, project_root: Path, home: Path | None = None
) -> ServiceProfile:
    """The run's profile: the file named by service_file, else [tool.harness.service], else the reference app's,
    whose files (deploy/...) resolve against the harness's home (a checkout, or the wheel's copy)."""
    if service_file is not None:
        path = service_file if service_file.is_absolute() else project_root / service_file
        return load_file(path)
    if table:
        return ServiceProfile(_parse(table, "[tool.harness.service]"), "[tool.harness.service]", project_root)
    default = load_file(DEFAULT_PROFILE)
    return ServiceProfile(default.data, "the reference app's default profile", home or project_root)
