"""The service profile: schema validation (one line per problem), the run's operation scope, the auth
schemes and the token sources (a login served by a real local HTTP server, refreshed before expiry)."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from harness.config import load_settings
from harness.errors import ConfigError
from harness.redact import run_secrets
from harness.service import profile_for
from harness.service.auth import AuthError, Credentials, TokenSource, credentials_for
from harness.service.operations import Scope
from harness.service.profile import Auth, Login, Operations, load_file, load_profile


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "service.toml"
    path.write_text(text)
    return path


def test_the_reference_apps_profile_is_the_default_and_resolves_its_files_against_the_project_root(tmp_path):
    profile = load_profile(None, None, tmp_path)
    assert profile.name == "ai-orchestra"
    assert profile.paths.websocket == "/chat/ws/{user_id}/{session_id}"
    assert [c.name for c in profile.smoke] == ["health", "chat_api"]
    assert profile.file("openapi_baseline") == tmp_path / "deploy/openapi.baseline.json"
    assert profile.secret_env_names() == ["HARNESS_TOKEN"]


def test_a_profile_file_resolves_its_files_against_its_own_directory(tmp_path):
    (tmp_path / "svc").mkdir()
    path = write(tmp_path / "svc", '[service]\nname = "x"\n[service.files]\nsource = "."\n')
    profile = load_file(path)
    assert profile.name == "x"
    assert profile.file("source") == (tmp_path / "svc").resolve()
    assert profile.file("dashboard") is None
    assert profile.paths.websocket is None and profile.paths.metrics is None  # none unless named


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ('nmae = "x"', "nmae: Extra inputs are not permitted"),
        ('[paths]\nhealth = "healthz"', "paths.health: 'healthz' must start with '/'"),
        ('[auth]\ntoken_env = "A"\n[auth.login]\npath = "/login"', "auth: give token_env or login, not both"),
        ('[auth]\nscheme = "basic"', "auth.scheme: Input should be 'header', 'query', 'cookie' or 'none'"),
        ('[operations]\npublic = ["health"]', "operations.public: 'health' is not 'METHOD /path'"),
        ('[operations]\nexclude_methods = ["FETCH"]', "operations.exclude_methods: 'FETCH' is not an HTTP method"),
        ('[[smoke]]\nname = "h"\npath = "/h"\nexpect = { "$[" = 1 }', "smoke.0.expect: '$[' is not a JSONPath"),
        (
            '[[smoke]]\nname = "h"\npath = "/h"\n[[smoke]]\nname = "h"\npath = "/i"',
            "smoke check names must be unique: h",
        ),
        ('[load]\ntraffic = "endpoints"', "needs at least one [[load.endpoints]] entry"),
        ("[auth\n", "not valid TOML"),
    ],
)
def test_every_profile_problem_is_one_line_naming_the_file_and_the_key(tmp_path, text, says):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_file(path)
    line = str(err.value)
    assert "\n" not in line and str(path) in line
    assert says in line


def test_the_profile_comes_from_service_file_then_the_project_table(tmp_path, monkeypatch):
    (tmp_path / "pyproject.toml").write_text('[tool.harness.service]\nname = "from-table"\n')
    monkeypatch.chdir(tmp_path)
    assert profile_for(load_settings({}, env={}, root=tmp_path)).name == "from-table"
    other = write(tmp_path, 'name = "from-file"\n')
    assert profile_for(load_settings({"service_file": str(other)}, env={}, root=tmp_path)).name == "from-file"
    with pytest.raises(ConfigError, match="does not exist"):
        profile_for(load_settings({"service_file": "nope.toml"}, env={}, root=tmp_path))


def test_allow_unsafe_is_never_taken_from_a_file(tmp_path):
    (tmp_path / "harness.toml").write_text("allow_unsafe = true\n")
    with pytest.raises(ConfigError, match="allow_unsafe is not taken from a file"):
        load_settings({}, env={}, root=tmp_path)
    (tmp_path / "harness.toml").write_text("")
    assert load_settings({}, env={"HARNESS_ALLOW_UNSAFE": "1"}, root=tmp_path).allow_unsafe is True
    assert load_settings({}, env={}, root=tmp_path).allow_unsafe is False


def test_a_secret_variable_the_profile_names_is_refused_when_too_short(tmp_path, monkeypatch):
    path = write(tmp_path, 'name = "short"\n[auth]\ntoken_env = "SHORT_SECRET_TOKEN"\n')
    monkeypatch.setenv("SHORT_SECRET_TOKEN", "abc")
    with pytest.raises(ConfigError, match="SHORT_SECRET_TOKEN .* shorter than 8"):
        profile_for(load_settings({"service_file": str(path)}, env={}, root=tmp_path))


# -- the scope of a run ----------------------------------------------------------------------------------------
OPS = Operations(
    unsafe_allowed=("POST /api/accounts",),
    exclude_paths=("/api/admin/*",),
    exclude_tags=("internal",),
    exclude_methods=("PATCH",),
    admin_only=("DELETE /api/accounts/*",),
    public=("GET /healthz",),
)


def test_on_a_target_the_harness_did_not_start_only_safe_methods_are_called():
    scope = Scope(OPS, ephemeral=False, allow_unsafe=False)
    assert scope.excluded("GET", "/api/accounts") is None
    assert "unsafe" in scope.excluded("DELETE", "/api/accounts/{account_id}")
    assert scope.excluded("POST", "/api/accounts") is None  # listed in unsafe_allowed
    assert "--allow-unsafe" in scope.excluded("PUT", "/api/accounts/{account_id}")


def test_allow_unsafe_and_a_harness_started_target_lift_the_method_rule_but_not_the_exclusions():
    for scope in (Scope(OPS, ephemeral=False, allow_unsafe=True), Scope(OPS, ephemeral=True, allow_unsafe=False)):
        assert scope.excluded("DELETE", "/api/accounts/{account_id}") is None
        assert "exclude_paths" in scope.excluded("POST", "/api/admin/reset")
        assert "exclude_tags" in scope.excluded("GET", "/api/stats", ["internal"])
        assert "exclude_methods" in scope.excluded("PATCH", "/api/accounts/{account_id}")
    scope = Scope(OPS, ephemeral=True, allow_unsafe=False)
    assert scope.admin_only("DELETE", "/api/accounts/{account_id}") and not scope.admin_only("GET", "/api/accounts")
    assert scope.public("GET", "/healthz")


# -- auth schemes ---------------------------------------------------------------------------------------------
def static(auth: Auth, token: str = "tok-123456789") -> Credentials:
    return Credentials(auth, TokenSource("http://x", static=token))


def test_a_header_scheme_carries_the_prefix_and_the_repro_line_shows_a_placeholder():
    creds = static(Auth(name="Authorization", prefix="Token "))
    assert creds.headers() == {"Authorization": "Token tok-123456789"}
    assert creds.curl_args() == ["-H", '"Authorization: Token $HARNESS_TOKEN"']
    names = [n for n, _ in creds.bad_variants()]
    assert names == ["no token", "malformed token", "wrong scheme", "wrong token"]
    wrong = dict(creds.bad_variants())["wrong scheme"]["headers"]["Authorization"]
    assert wrong.startswith("Basic ")


def test_query_and_cookie_schemes():
    query = static(Auth(scheme="query", name="access_token"))
    assert query.headers() == {} and query.url("http://h/a?b=1") == "http://h/a?b=1&access_token=tok-123456789"
    cookie = static(Auth(scheme="cookie", name="session"))
    assert cookie.headers() == {"Cookie": "session=tok-123456789"}
    assert cookie.curl_args() == ["-b", '"session=$HARNESS_TOKEN"']
    assert static(Auth(scheme="none")).headers() == {}


def test_harness_token_is_the_targets_own_and_another_variable_is_read_from_the_environment():
    auth = Auth(token_env="HARNESS_TOKEN")
    assert credentials_for(auth, "http://x", target_token="stack-token-1").token() == "stack-token-1"
    other = Auth(token_env="SVC_TOKEN")
    creds = credentials_for(other, "http://x", target_token="stack-token-1", env={"SVC_TOKEN": "svc-token-12"})
    assert creds.token() == "svc-token-12"
    assert credentials_for(other, "http://x", target_token=None, low_privilege=True) is None


# -- a login that expires --------------------------------------------------------------------------------------
class _Login(BaseHTTPRequestHandler):
    issued: list[str] = []
    lifetime = 0.6

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if body.get("username") == "nobody":  # a service that refuses with 200 and a message
            data = b'{"error": "Username does not exist"}'
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        if body != {"username": "alice", "password": "alice-password-1"}:
            self.send_response(401)
            self.end_headers()
            return
        token = f"issued-token-{len(self.issued):04d}"
        self.issued.append(token)
        data = json.dumps({"data": {"access": token}, "expires_in": self.lifetime}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def login_server():
    _Login.issued = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Login)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


LOGIN = Login(
    path="/login",
    json={"username": "{env:SVC_USER}", "password": "{secret:SVC_PASSWORD}"},
    token_field="data.access",
    expires_in_field="expires_in",
    refresh_margin=0.5,
)
ENV = {"SVC_USER": "alice", "SVC_PASSWORD": "alice-password-1"}


def test_a_login_token_is_reused_then_refreshed_before_it_expires_and_is_a_secret_of_the_run(login_server):
    source = TokenSource(login_server, login=LOGIN, env=ENV)
    first = source.token()
    assert first == "issued-token-0000" and source.token() == first  # reused while fresh
    time.sleep(0.35)  # past half of the 0.6 s lifetime: refreshed
    assert source.token() == "issued-token-0001"
    assert source.logins == 2
    assert {"issued-token-0000", "issued-token-0001"} <= set(run_secrets(env={}))
    source.invalidate()
    assert source.token() == "issued-token-0002"


def test_only_secret_placeholders_are_secrets_of_the_run():
    assert LOGIN.env_names() == ["SVC_PASSWORD"]


def test_a_refused_login_and_a_missing_variable_are_one_line_each(login_server):
    bad = TokenSource(login_server, login=LOGIN, env={**ENV, "SVC_PASSWORD": "wrong-password"}, label="main identity")
    with pytest.raises(AuthError) as refused:
        bad.token()
    assert "answered HTTP 401 (empty body) for the main identity (username='alice' from SVC_USER): its " in str(
        refused.value
    )
    assert "wrong-password" not in str(refused.value)
    nobody = TokenSource(login_server, login=LOGIN, env={**ENV, "SVC_USER": "nobody"}, label="low-privilege identity")
    with pytest.raises(AuthError) as unknown:  # 200 with a refusal: named, quoted, not "set token_field" alone
        nobody.token()
    line = str(unknown.value)
    assert "for the low-privilege identity (username='nobody' from SVC_USER)" in line
    assert """'{"error": "Username does not exist"}'""" in line and "check its credentials" in line
    missing = TokenSource(login_server, login=LOGIN, env={"SVC_USER": "alice"})
    with pytest.raises(ConfigError, match="needs the environment variable SVC_PASSWORD, which is not set"):
        missing.token()
    gone = TokenSource("http://127.0.0.1:9", login=LOGIN, env=ENV, timeout_s=2)
    with pytest.raises(AuthError, match="no answer from http://127.0.0.1:9/login"):
        gone.token()


def test_harness_service_shows_what_will_be_called_and_what_will_be_not_applicable():
    from harness.service.describe import describe_profile

    text = describe_profile(load_file(Path(__file__).resolve().parents[2] / "examples/ledger/service.toml"))
    assert "header Authorization: Token <token>; login POST /api/auth/login" in text
    assert "secrets from LEDGER_ADMIN_PASSWORD" in text and "alice" not in text
    assert "paths.websocket  (none)  -> N/A: smoke.websocket, contract.websocket, load.ws_connect_ratio" in text
    assert "N/A: smoke.websocket, smoke.metrics, smoke.roundtrip, smoke.store" in text
