"""Where the validation suites run: a Target handed down, given by --target, or a local stack we start.

Under pytest-xdist the controller starts the one stack and hands its Target to every worker.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from harness.checks import COVERAGE, CURL, MEASURE
from harness.config import Settings, load_settings
from harness.errors import HarnessError
from harness.home import OWN_TEST_DIRS, harness_home
from harness.plugins.keys import CURRENT_TARGET
from harness.service import Scope, ServiceProfile, profile_for, scope_for
from harness.service.auth import Credentials, RequestsAuth, credentials_for
from harness.stack import make_stack, running
from harness.target import Target, target_from_env

TARGET_KEY = pytest.StashKey["TargetProvider"]()
_SETTINGS = pytest.StashKey[Settings]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("harness")
    group.addoption(
        "--target",
        metavar="URL",
        default=None,
        help="run the validation suites against this deployment (env HARNESS_TARGET); "
        "token from HARNESS_TOKEN. Default: start a local stack",
    )
    group.addoption(
        "--harness-settings",
        metavar="FILE",
        default=None,
        help="the run's settings as one JSON document (written by `harness gate`); default: read the project's",
    )
    group.addoption(
        "--stack",
        default=None,
        choices=("auto", "local", "containers", "external"),
        help="how to get a target when none is handed down (env HARNESS_STACK)",
    )


def harness_settings(config: pytest.Config) -> Settings:
    """The run's Settings: the JSON document `harness gate` handed down (--harness-settings), else the
    project's file and HARNESS_* environment (a suite run by hand). A bad one raises ConfigError."""
    if _SETTINGS not in config.stash:
        path = config.getoption("harness_settings", None)
        if path:
            config.stash[_SETTINGS] = Settings.from_json(Path(path).read_text())
        else:
            env = {k: v for k, v in os.environ.items() if k not in ("HARNESS_STACK", "HARNESS_TARGET")}
            config.stash[_SETTINGS] = load_settings({}, env=env, root=Path(str(config.rootpath)))
    return config.stash[_SETTINGS]


def run_reports_dir(config: pytest.Config) -> Path:
    """Where this run's reports go: beside the evidence file when `harness gate` runs the suites, else the
    configured reports_dir (a suite run by hand)."""
    evidence = config.getoption("harness_evidence", None)
    return Path(evidence).parent if evidence else harness_settings(config).reports_dir


class TargetProvider:
    """Finds or starts the Target once per process, and stops what it started at unconfigure."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.target: Target | None = None
        self.error: str | None = None
        self._exit = ExitStack()

    def get(self) -> Target:
        if self.target is None and self.error is None:
            try:
                self.target = self._find() or self._start()
            except HarnessError as exc:
                self.error = str(exc)
        if self.error is not None:
            raise RuntimeError(self.error)
        assert self.target is not None
        return self.target

    def _find(self) -> Target | None:
        workerinput: dict[str, Any] | None = getattr(self.config, "workerinput", None)
        if workerinput and workerinput.get("harness_target"):
            return Target.from_json(workerinput["harness_target"])
        return target_from_env()

    def _start(self) -> Target:
        flags = {"target": self.config.getoption("target"), "stack": self.config.getoption("stack")}
        settings = load_settings(flags, root=Path(str(self.config.rootpath)))
        # the stack keeps its logs in the reports dir (containers/, stack/): a dir of the harness's own, claimed and
        # listed as `harness gate` does, so a gate run after these suites may use (and clean) it
        from harness.reports_dir import claim, finish

        if claim(settings.reports_dir):
            self._exit.callback(finish, settings.reports_dir)  # after the stack stopped and saved its logs
        return self._exit.enter_context(running(make_stack(settings)))

    def close(self) -> None:
        self._exit.close()


def pytest_configure(config: pytest.Config) -> None:
    provider = config.stash[TARGET_KEY] = TargetProvider(config)
    config.stash[CURRENT_TARGET] = lambda: provider.target


def pytest_unconfigure(config: pytest.Config) -> None:
    provider = config.stash.get(TARGET_KEY, None)
    if provider is not None:
        provider.close()


def _packaged_suite_dirs() -> list[Path]:
    """The folders of the registered suites that live in a package of their own (harness/registry.py)."""
    from harness import registry

    try:
        found = registry.suites().values()
    except Exception:  # noqa: BLE001 - a broken entry point is said by the gate before this session starts
        return []
    dirs = [s.tests_dir(Path()) for s in found if s.tests is not None]
    return [d.resolve() for d in dirs if d is not None]


def _runs_validation_suites(config: pytest.Config) -> bool:
    """Whether the session's paths include a validation suite (tests/<suite>, not unit/e2e)."""
    tests_dirs = {Path(str(config.rootpath)) / "tests", harness_home() / "tests"}
    if config.getoption("harness_settings", None):  # `harness gate`: its suites_dir, wherever that is
        tests_dirs.add(harness_settings(config).suites_dir)
    packaged = _packaged_suite_dirs()  # a team's suite: its own package's folder
    for arg in config.args:
        path = Path(arg.split("::")[0]).resolve()
        if any(path == d or d in path.parents for d in packaged):
            return True
        for tests_dir in tests_dirs:
            if path == tests_dir.resolve():
                return True
            try:
                rel = path.relative_to(tests_dir.resolve())
            except ValueError:
                continue
            if rel.parts and rel.parts[0] not in OWN_TEST_DIRS:
                return True
    return False


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """xdist controller: start (once) the stack and hand its Target to each worker."""
    config = node.config
    if not _runs_validation_suites(config):
        return
    provider = config.stash[TARGET_KEY]
    try:
        node.workerinput["harness_target"] = provider.get().to_json()
    except RuntimeError as exc:
        raise pytest.UsageError(str(exc)) from None


@pytest.fixture(scope="session")
def target(pytestconfig: pytest.Config) -> Target:
    """The deployment under test."""
    try:
        return pytestconfig.stash[TARGET_KEY].get()
    except RuntimeError as exc:
        pytest.fail(f"no target: {exc}", pytrace=False)


@pytest.fixture(scope="session")
def service(pytestconfig: pytest.Config) -> ServiceProfile:
    """The service profile of the run (harness/service): paths, files, auth, operations, smoke checks."""
    try:
        return profile_for(harness_settings(pytestconfig))
    except HarnessError as exc:
        pytest.fail(f"service profile: {exc}", pytrace=False)


@pytest.fixture(scope="session")
def scope(pytestconfig: pytest.Config, target: Target, service: ServiceProfile) -> Scope:
    """Which operations this run may call on the target (safe ones only on a target the harness did not start)."""
    return scope_for(harness_settings(pytestconfig), target.ephemeral)


@pytest.fixture(scope="session")
def creds(target: Target, service: ServiceProfile) -> Credentials:
    """The main identity's credentials, carried as the profile's auth says (a login is refreshed when due)."""
    found = credentials_for(service.auth, target.base_url, target_token=target.token, verify=target.ca_file or True)
    assert found is not None
    return found


def exchange_deadline(config: pytest.Config) -> float:
    """Every exchange with the target ends within this many seconds, end to end (external_timeout_s)."""
    return harness_settings(config).external_timeout_s


@pytest.fixture
def api(
    pytestconfig: pytest.Config, target: Target, creds: Credentials, record_property: Callable[[str, object], None]
) -> Iterator[Any]:
    """An authenticated requests session whose every exchange ends within the run's external_timeout_s (a trickled
    answer included: harness.http.DeadlineSession); each request is recorded as a curl line for reproduction."""
    import requests

    from harness.http import DeadlineSession

    session = DeadlineSession(exchange_deadline(pytestconfig))
    session.auth = RequestsAuth(creds) if creds.present() else None

    def record(resp: requests.Response, *args: object, **kwargs: object) -> None:
        record_property(CURL, curl_line(resp.request, creds))

    session.hooks["response"].append(record)
    with session:
        yield session


def curl_line(req: Any, creds: Credentials | None = None) -> str:
    """A curl command that repeats req; the token is left as $HARNESS_TOKEN."""
    url = req.url
    if creds is not None and creds.scheme == "query":
        url = _query_placeholder(url, creds.auth.name)
    parts = ["curl", "-sS", "-X", req.method, f"'{url}'"]
    carried = False
    for key, value in req.headers.items():
        if key.lower() == "authorization" or (creds is not None and creds.is_auth_header(key)):
            carried = True
        elif key.lower() == "cookie" and creds is not None and creds.scheme == "cookie":
            carried = True
        elif key.lower() == "content-type":
            parts += ["-H", f"'{key}: {value}'"]
    if carried:
        parts += creds.curl_args() if creds is not None else ["-H", '"Authorization: Bearer $HARNESS_TOKEN"']
    if req.body:
        body = req.body.decode() if isinstance(req.body, bytes) else str(req.body)
        parts += ["-d", "'" + body.replace("'", "'\\''") + "'"]
    return " ".join(parts)


def _query_placeholder(url: str, name: str) -> str:
    from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

    parts = urlsplit(url)
    query = [(k, "$HARNESS_TOKEN" if k == name else v) for k, v in parse_qsl(parts.query, keep_blank_values=True)]
    return urlunsplit(parts._replace(query=urlencode(query, safe="$")))


@pytest.fixture
def ws_connect(pytestconfig: pytest.Config, target: Target, creds: Credentials) -> Iterator[Callable[..., Any]]:
    """Open WebSocket connections to target paths, each one's whole life within the run's external_timeout_s (a
    trickled handshake or frame included: harness.http.ws_connect); every one is closed after the test."""
    from harness.http import ws_connect as connect_within

    opened: list[Any] = []
    deadline = exchange_deadline(pytestconfig)

    def connect(path: str, *, timeout: float = 5.0, token: bool = False, **kwargs: Any) -> Any:
        headers = creds.ws_headers() if token and creds.present() else []
        url = f"{target.ws_url}/{path.lstrip('/')}"
        ws = connect_within(
            creds.url(url) if token else url, deadline_s=deadline, timeout=timeout, header=headers, **kwargs
        )
        opened.append(ws)
        return ws

    yield connect
    for ws in opened:
        ws.close()


@pytest.fixture
def measure(record_property: Callable[[str, object], None]) -> Callable[..., None]:
    """measure(p95_ms=812.0, ...): attach measurements to this check's Evidence."""

    def add(**values: float) -> None:
        record_property(MEASURE, {k: float(v) for k, v in values.items()})

    return add


@pytest.fixture
def coverage(record_property: Callable[[str, object], None]) -> Callable[..., None]:
    """coverage(files=12, pages=3): what this check looked at. Counts add up over calls; a count of
    zero makes the check's gate `missing` (a scan that covered nothing is no evidence), never `pass`."""

    def add(**counts: float) -> None:
        record_property(COVERAGE, {k: float(v) for k, v in counts.items()})

    return add
