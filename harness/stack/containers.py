"""The containers stack: PostgreSQL, Redis and the app image on one Docker network, via testcontainers.

configure -> check (engine answers, images present or pullable) -> start (network, databases, app image
built from deploy/Dockerfile unless given, migrations in a one-off app container, app waited on over
HTTP; with --baseline (or --baseline-image) a baseline app beside it, and for the live phases a Prometheus
container scraping both over the network with the local stack's rules) -> stop (logs saved next to the
verdict; every container and the network removed).
Every container and the network carry their owner's labels (harness/stack/sweep.py): a start removes
those whose owner died without stopping them (SIGKILL).
"""

from __future__ import annotations

import os
import secrets
import shutil
import uuid
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.atomic import write_atomic
from harness.config import Settings
from harness.errors import ConfigError, HarnessError, StackError, did_you_mean
from harness.options import Option, OptionSpec, positive, suite_options
from harness.progress import step
from harness.redact import redact_text, run_secrets
from harness.stack.sweep import Owner, make_run_dir, sweep_containers
from harness.stack.wait import Callback, HttpAnswers, wait_until
from harness.target import Target

IMAGE_SETS: dict[str, dict[str, str]] = {
    "official": {
        "postgres": "postgres:16-alpine",
        "redis": "redis:7-alpine",
        "app_base": "python:3.11-slim",
        "prometheus": "prom/prometheus:v2.53.2",
    },
    # stand-ins built by scripts/build_offline_images.sh, for machines without an image registry
    "offline": {
        "postgres": "harness-offline/postgres:16",
        "redis": "harness-offline/redis:7",
        "app_base": "harness-offline/python:3.11",
        "prometheus": "harness-offline/prometheus:2",
    },
}
# Every key is also HARNESS_CONTAINERS_<KEY> (HARNESS_CONTAINERS_IMAGES=offline); see harness.options.
SPEC = OptionSpec(
    "containers",
    (
        Option("images", str, "official"),
        Option("postgres_image", str),
        Option("redis_image", str),
        Option("app_base_image", str),
        Option("prometheus_image", str),
        Option("dockerfile", str, "deploy/Dockerfile"),
        Option("startup_timeout_s", float, 90.0, check=positive("number of seconds"), high=3600),
    ),
)
DB_USER, DB_NAME, APP_PORT, PROMETHEUS_PORT = "orchestra", "ai_orchestra", 8000, 9090
PROMETHEUS_DIR = "/etc/prometheus"  # where the Prometheus container reads its config and rules (both images have it)
APP_ENV_PASSTHROUGH = ("ORCHESTRA_FAULTS", "ORCHESTRA_FEATURE_FLAGS", "WEBSOCKET_MAX_CONNECTIONS", "LOG_LEVEL")


class DockerUnavailable(HarnessError):
    """No Docker engine answers, or an image is neither present nor pullable."""


@dataclass(frozen=True, slots=True)
class ContainerOptions:
    """[tool.harness.containers], with HARNESS_CONTAINERS_IMAGES choosing an image set."""

    postgres_image: str
    redis_image: str
    app_base_image: str
    prometheus_image: str
    dockerfile: str
    startup_timeout_s: float


def container_options(settings: Settings, env: dict[str, str] | None = None) -> ContainerOptions:
    values = suite_options(SPEC, settings, env)
    name = values["images"] or "official"
    if name not in IMAGE_SETS:
        raise ConfigError(
            f"{values.where('images')}: unknown image set {name!r}{did_you_mean(name, IMAGE_SETS)}; "
            f"sets: {', '.join(IMAGE_SETS)}"
        )
    chosen = IMAGE_SETS[name]
    return ContainerOptions(
        postgres_image=values["postgres_image"] or chosen["postgres"],
        redis_image=values["redis_image"] or chosen["redis"],
        app_base_image=values["app_base_image"] or chosen["app_base"],
        prometheus_image=values["prometheus_image"] or chosen["prometheus"],
        dockerfile=values["dockerfile"] or "deploy/Dockerfile",
        startup_timeout_s=float(values["startup_timeout_s"]),
    )


def _testcontainers_env() -> None:
    """Defaults for a local engine: no Ryuk (its image cannot be pulled offline; our own cleanup is
    complete), and the host is loopback even when /.dockerenv makes testcontainers guess otherwise."""
    os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")
    host = os.environ.get("DOCKER_HOST", "unix://")
    if host.startswith("unix://"):
        os.environ.setdefault("TESTCONTAINERS_HOST_OVERRIDE", "127.0.0.1")
        os.environ.setdefault("TESTCONTAINERS_CONNECTION_MODE", "docker_host")  # mapped ports on loopback


def docker_client(timeout_s: float = 5.0) -> Any:
    """A docker-py client whose engine answered a ping; DockerUnavailable otherwise."""
    import docker

    where = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    try:
        client = docker.from_env(timeout=int(timeout_s))
        client.ping()
    except Exception as exc:  # noqa: BLE001 - docker raises several kinds for "not there"
        text = str(exc)
        reason = (
            "no such socket"
            if "FileNotFoundError" in text or "No such file" in text
            else "connection refused"
            if "refused" in text
            else "permission denied"
            if "Permission denied" in text
            else (text.splitlines() or [type(exc).__name__])[0][:120]
        )
        raise DockerUnavailable(
            f"no Docker engine answers at {where} ({reason}); start one (or set DOCKER_HOST), or use --stack local"
        ) from None
    return client


def image_available(client: Any, image: str) -> bool:
    import docker

    try:
        client.images.get(image)
        return True
    except docker.errors.ImageNotFound:
        return False


def app_image_hash(root: Path, dockerfile: str, base_id: str) -> str:
    """A short content hash of everything the app image is built from."""
    import hashlib

    digest = hashlib.sha256(base_id.encode())
    files = [root / dockerfile, root / "alembic.ini", *sorted((root / "app").rglob("*"))]
    files += sorted((root / "deploy" / "wheels").glob("*.whl"))
    for path in files:
        if path.is_file() and "__pycache__" not in path.parts:
            digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def build_root(settings: Settings, dockerfile: str) -> Path | None:
    """The build context of the app image: the project (a team's own Dockerfile and app/) or the harness's
    checkout; None from an installed wheel, whose files stage_build_context() gathers."""
    for root in (settings.project_root, settings.home):
        if (root / dockerfile).is_file() and (root / "app").is_dir():
            return root
    return None


def stage_build_context(home: Path, dockerfile: str) -> Path:
    """A private run dir holding what deploy/Dockerfile copies, from an installed harness: the Dockerfile and
    alembic.ini from its home, the offline wheels if any, and the installed `app` package (requirements.txt
    included). Removed after the build (and swept if the run is killed)."""
    import app

    stage = make_run_dir(kind="appctx", mode=0o700)
    if not (home / dockerfile).is_file():
        shutil.rmtree(stage, ignore_errors=True)
        raise StackError(f"the app image's {dockerfile} is not in {home}: set containers.dockerfile or --app-image")
    skip = shutil.ignore_patterns("__pycache__", "*.pyc")
    (stage / dockerfile).parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(home / dockerfile, stage / dockerfile)
    if (home / "alembic.ini").is_file():
        shutil.copy2(home / "alembic.ini", stage / "alembic.ini")
    wheels = stage / "deploy" / "wheels"
    wheels.mkdir(parents=True, exist_ok=True)
    for whl in sorted((home / "deploy" / "wheels").glob("*.whl")):
        shutil.copy2(whl, wheels / whl.name)
    shutil.copytree(Path(app.__file__).resolve().parent, stage / "app", ignore=skip)
    return stage


def why_not_containers(settings: Settings) -> str | None:
    """None when the containers stack can run here; otherwise why not (for --stack auto)."""
    try:
        opts = container_options(settings)
        client = docker_client(timeout_s=2)
    except HarnessError as exc:
        return str(exc).split(";")[0]
    needed = [opts.postgres_image, opts.redis_image, settings.app_image or opts.app_base_image]
    needed += [opts.prometheus_image] if settings.with_prometheus else []
    missing = [image for image in needed if not image_available(client, image)]
    client.close()
    return f"images not present locally: {', '.join(missing)}" if missing else None


def _postgres_container(image: str, password: str, net: Any) -> Any:
    """PostgresContainer whose readiness wait gives up as soon as the container exits."""
    import time

    from testcontainers.community.postgres import PostgresContainer

    class Postgres(PostgresContainer):  # type: ignore[misc]
        def _connect(self) -> None:
            check = ["sh", "-c", f"PGPASSWORD='{password}' psql -U {DB_USER} -d {DB_NAME} -h 127.0.0.1 -c 'select 1'"]
            deadline = time.monotonic() + float(os.environ.get("HARNESS_CONTAINERS_PG_TIMEOUT_S", "90"))
            while True:
                wrapped = self.get_wrapped_container()
                wrapped.reload()
                if wrapped.status in ("exited", "dead"):
                    tail = wrapped.logs(tail=3).decode(errors="replace").strip().replace("\n", " | ")
                    tail = redact_text(tail, [password])
                    raise StackError(f"the PostgreSQL container ({image}) exited: {tail or 'no output'}")
                if self.exec(check).exit_code == 0:
                    return
                if time.monotonic() > deadline:
                    raise StackError(f"the PostgreSQL container ({image}) did not accept logins in time")
                time.sleep(0.25)

    return Postgres(image, username=DB_USER, password=password, dbname=DB_NAME, network=net, network_aliases=["db"])


class ContainersStack:
    """PostgreSQL + Redis + the app (and optionally a baseline app and a Prometheus) as containers on one network."""

    name = "containers"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.opts = container_options(settings)
        self.run_id = uuid.uuid4().hex[:8]
        self.owner = Owner.me()
        self.baseline: Target | None = None
        self._exit = ExitStack()
        self._containers: list[tuple[str, Any]] = []
        self._secrets: list[str] = run_secrets()  # and each one start() makes: container logs are redacted

    def check(self) -> None:
        if self.settings.app_tls != "off":
            raise ConfigError(
                f"app_tls = {self.settings.app_tls!r} needs the local stack (--stack local); "
                "the containers stack serves the app over plain http"
            )
        _testcontainers_env()
        client = docker_client()
        wanted = [self.opts.postgres_image, self.opts.redis_image]
        wanted += [self.settings.app_image] if self.settings.app_image else [self.opts.app_base_image]
        wanted += [self.settings.baseline_image] if self.settings.baseline_image else []
        wanted += [self.opts.prometheus_image] if self.settings.with_prometheus else []
        for image in wanted:
            if image_available(client, image):
                continue
            try:
                client.images.pull(image)
            except Exception as exc:  # noqa: BLE001
                reason = str(exc).splitlines()[0][:120]
                raise DockerUnavailable(
                    f"image {image} is not present and cannot be pulled ({reason}); without a registry build the "
                    "stand-ins with scripts/build_offline_images.sh and set HARNESS_CONTAINERS_IMAGES=offline"
                ) from None
        client.close()

    def start(self) -> Target:
        from testcontainers.community.redis import RedisContainer
        from testcontainers.core.network import Network

        password = secrets.token_urlsafe(18)
        self._secrets.append(password)
        self._sweep()
        try:
            net = self._exit.enter_context(Network(docker_network_kw={"labels": self.labels("network")}))
            with step(f"PostgreSQL container ({self.opts.postgres_image})"):
                pg = self._run("postgres", _postgres_container(self.opts.postgres_image, password, net))
            with step(f"Redis container ({self.opts.redis_image})"):
                redis = self._run(
                    "redis", RedisContainer(self.opts.redis_image, network=net, network_aliases=["cache"])
                )
            with step("app image" if self.settings.app_image else "app image (build or reuse)"):
                app_image = self.settings.app_image or self._build_app_image()
            inner_db = f"postgresql://{DB_USER}:{password}@db:5432/{DB_NAME}"
            with step("migrations"):
                self._migrate(app_image, net, inner_db)
            token, admin_token = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
            self._secrets += [token, admin_token]
            # the app, the baseline and Prometheus start together, then each is waited on (they start in parallel)
            app = self._app("app", app_image, net, inner_db, token, admin_token)
            # --baseline-image, or --baseline: the candidate's own image beside it (as the local stack's baseline)
            baseline_image = self.settings.baseline_image or (app_image if self.settings.baseline else None)
            baseline = None
            if baseline_image:  # its own admin secret: switching the candidate's faults spares it
                self._secrets.append(baseline_admin := secrets.token_urlsafe(24))
                baseline = self._app("app-baseline", baseline_image, net, inner_db, token, baseline_admin, True)
            prometheus = None
            if self.settings.with_prometheus:
                apps = {"candidate": f"http://app:{APP_PORT}"}
                if baseline is not None:
                    apps["baseline"] = f"http://app-baseline:{APP_PORT}"
                prometheus = self._prometheus(net, apps)
            with step("app container"):
                target = self._app_ready(app, app_image, token, admin_token, "the app container")
            if baseline is not None:
                with step(f"baseline app container ({baseline_image})"):
                    self.baseline = self._app_ready(
                        baseline, str(baseline_image), token, baseline_admin, "the baseline app container"
                    )
            prometheus_url = None
            if prometheus is not None:
                with step(f"Prometheus container ({self.opts.prometheus_image})"):
                    prometheus_url = prometheus()
        except HarnessError:
            raise
        except Exception as exc:  # noqa: BLE001 - docker/testcontainers raise many kinds
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise StackError(f"{redact_text(first, self._secrets)[:240]} (container logs: {self._logs_dir})") from None
        host = pg.get_container_host_ip()
        return Target(
            base_url=target.base_url,
            stack=self.name,
            token=token,
            version=target.version,
            database_url=f"postgresql://{DB_USER}:{password}@{host}:{pg.get_exposed_port(5432)}/{DB_NAME}",
            redis_url=f"redis://{host}:{redis.get_exposed_port(6379)}/0",
            ephemeral=True,
            admin_token=admin_token,
            prometheus_url=prometheus_url,
            baseline_url=self.baseline.base_url if self.baseline is not None else None,
        )

    def _run(self, role: str, container: Any) -> Any:
        """Start a container and register it for log saving and removal."""
        container.with_kwargs(labels=self.labels(role))
        self._containers.append((role, container))
        self._exit.callback(container.stop)
        container.start()
        return container

    def _sweep(self) -> None:
        """Remove the containers and networks of runs that died without stopping them (best effort)."""
        try:
            client = docker_client()
        except HarnessError:
            return  # the start itself will say what is wrong
        try:
            sweep_containers(client, self.owner)
        finally:
            client.close()

    def labels(self, role: str) -> dict[str, str]:
        """The run id, the role, and the owner (for the sweep of a later run if this one is killed)."""
        return {"org.ai-orchestra.harness": self.run_id, "org.ai-orchestra.role": role, **self.owner.labels()}

    def _build_app_image(self) -> str:
        """Build deploy/Dockerfile once per content: the tag is a hash of the Dockerfile, the app's files and
        the base image, so a warm run reuses it (built images are a cache, kept; containers never are)."""
        client = docker_client(timeout_s=600)  # a build's requests may take minutes
        staged: Path | None = None
        try:
            root = build_root(self.settings, self.opts.dockerfile)
            if root is None:  # an installed wheel: the reference service's files, staged as the Dockerfile wants
                staged = root = stage_build_context(self.settings.home, self.opts.dockerfile)
            base_id = client.images.get(self.opts.app_base_image).id
            tag = f"ai-orchestra-harness/app:{app_image_hash(root, self.opts.dockerfile, base_id)}"
            if image_available(client, tag):
                return tag
            client.images.build(
                path=str(root),
                dockerfile=self.opts.dockerfile,
                tag=tag,
                rm=True,
                forcerm=True,
                buildargs={"BASE_IMAGE": self.opts.app_base_image},
                network_mode="host",
                labels={"org.ai-orchestra.harness": "app-image"},
            )
        except HarnessError:
            raise
        except Exception as exc:  # noqa: BLE001 - docker.errors.BuildError and friends
            raise StackError(f"building {self.opts.dockerfile} failed: {str(exc).splitlines()[0][:200]}") from None
        finally:
            client.close()
            if staged is not None:
                shutil.rmtree(staged, ignore_errors=True)
        return tag

    def _env(self, inner_db: str, token: str, admin_token: str, baseline: bool = False) -> dict[str, str]:
        """The app container's environment; a baseline's faults come from ORCHESTRA_BASELINE_FAULTS, never from
        ORCHESTRA_FAULTS (the candidate's), as on the local stack."""
        env = {
            "DATABASE_URL": inner_db,
            "REDIS_URL": "redis://cache:6379/0",
            "ORCHESTRA_API_TOKENS": token,
            "ORCHESTRA_ADMIN_TOKEN": admin_token,  # the admin endpoint (app/admin.py): faults switched at run time
            "ENVIRONMENT": "test",
            "LOG_LEVEL": "WARNING",
        }
        env.update({k: os.environ[k] for k in APP_ENV_PASSTHROUGH if k in os.environ})
        if baseline:
            from harness.stack.local import BASELINE_FAULTS_ENV

            env.pop("ORCHESTRA_FAULTS", None)
            if os.environ.get(BASELINE_FAULTS_ENV):
                env["ORCHESTRA_FAULTS"] = os.environ[BASELINE_FAULTS_ENV]
        return env

    def _migrate(self, image: str, net: Any, inner_db: str) -> None:
        from testcontainers.core.container import DockerContainer

        job = DockerContainer(image, network=net).with_env("DATABASE_URL", inner_db)
        job.with_command("python -m app migrate upgrade head")
        self._run("migrate", job)
        result = job.get_wrapped_container().wait(timeout=self.opts.startup_timeout_s)
        if result.get("StatusCode") != 0:
            last = job.get_logs()[1].decode(errors="replace").strip().splitlines()[-1:] or ["no output"]
            raise StackError(
                f"migrations failed in the app container ({image}): {redact_text(last[0], self._secrets)[:200]}"
            )

    def _app(
        self, role: str, image: str, net: Any, inner_db: str, token: str, admin_token: str, baseline: bool = False
    ) -> Any:
        """Start an app container (not waited on: _app_ready), reachable on the network as `role`."""
        from testcontainers.core.container import DockerContainer

        app = DockerContainer(image, network=net, network_aliases=[role])
        for key, value in self._env(inner_db, token, admin_token, baseline=baseline).items():
            app.with_env(key, value)
        app.ports[f"{APP_PORT}/tcp"] = ("127.0.0.1", None)  # type: ignore[assignment]  # loopback only
        return self._run(role, app)

    def _app_ready(self, app: Any, image: str, token: str, admin_token: str, what: str) -> Target:
        """Wait until the app container answers HTTP on /health (any status) through its mapped port."""
        from harness.stack.local import _version

        base = f"http://{self._address(app, APP_PORT, what)}"
        ready = HttpAnswers(f"{base}/health", what=f"{what} ({image})")
        wait_until(ready, self.opts.startup_timeout_s, alive=self._exited(app))
        return Target(
            base_url=base, stack=self.name, token=token, version=_version(base), ephemeral=True, admin_token=admin_token
        )

    def _address(self, container: Any, port: int, what: str) -> str:
        """host:port where a started container's port is mapped; a container that exited instead (testcontainers
        waits for it to run) is one line naming it, with its last log lines."""
        try:
            return f"{container.get_container_host_ip()}:{container.get_exposed_port(port)}"
        except Exception as exc:  # noqa: BLE001 - testcontainers raises TimeoutError, docker its own kinds
            died = self._exited(container)()
            reason = died or redact_text((str(exc).strip().splitlines() or [type(exc).__name__])[0], self._secrets)
            raise StackError(
                f"{what} ({container.image}) did not start: {reason} (container logs: {self._logs_dir})"
            ) from None

    def _exited(self, container: Any) -> Callable[[], str | None]:
        """For wait_until: None while the container runs; once it has exited, its last log lines (redacted)."""

        def exited() -> str | None:
            wrapped = container.get_wrapped_container()
            wrapped.reload()
            if wrapped.status not in ("exited", "dead"):
                return None
            tail = wrapped.logs(tail=3).decode(errors="replace").strip().replace("\n", " | ")
            return redact_text(tail, self._secrets)[:240] or "no output"

        return exited

    def _prometheus(self, net: Any, apps: dict[str, str]) -> Callable[[], str]:
        """Start a Prometheus container on the network scraping `apps` (track -> URL on the network) every second,
        with the files the local stack's Prometheus reads (harness/stack/prometheus.py) copied in before it starts;
        its port mapped on 127.0.0.1. Returns the wait: its URL once it has scraped every app once."""
        from testcontainers.core.container import DockerContainer

        from harness.stack.prometheus import CONFIG, prometheus_files, scraped_tracks

        image = self.opts.prometheus_image
        prom = DockerContainer(image, network=net, network_aliases=["prometheus"])
        for name, text in prometheus_files(apps, self.settings.home, PROMETHEUS_DIR).items():
            prom.with_copy_into_container(text.encode(), f"{PROMETHEUS_DIR}/{name}")
        prom.with_command(
            [
                f"--config.file={PROMETHEUS_DIR}/{CONFIG}",
                "--storage.tsdb.path=/prometheus",  # the images' own data dir, writable by their user
                f"--web.listen-address=0.0.0.0:{PROMETHEUS_PORT}",
                "--storage.tsdb.retention.time=1h",
                "--log.level=warn",
            ]
        )
        prom.ports[f"{PROMETHEUS_PORT}/tcp"] = ("127.0.0.1", None)  # type: ignore[assignment]  # loopback only
        self._run("prometheus", prom)
        url = f"http://{self._address(prom, PROMETHEUS_PORT, 'the Prometheus container')}"

        def scraped() -> None:
            tracks = scraped_tracks(url)
            if not set(apps) <= tracks:
                raise RuntimeError(f"not every app scraped yet (up: {sorted(t for t in tracks if t)})")

        def ready() -> str:
            probe = Callback(scraped, f"the Prometheus container ({image})")
            wait_until(probe, self.opts.startup_timeout_s, alive=self._exited(prom))
            return url

        return ready

    def save_logs(self, directory: Path) -> None:
        """Each container's logs, next to the verdict, redacted on their way in (the stack's own secrets and
        the user-given ones)."""
        directory.mkdir(parents=True, exist_ok=True)
        for role, container in self._containers:
            try:
                out, err = container.get_logs()
            except Exception:  # noqa: BLE001,S112 - a container that never started has no logs
                continue
            text = (out + err).decode("utf-8", errors="replace")
            write_atomic(directory / f"{role}.log", redact_text(text, self._secrets))

    @property
    def _logs_dir(self) -> Path:
        return self.settings.reports_dir / "containers"

    def stop(self) -> None:
        """Save logs, then remove every container, the network and a built image; safe to call twice."""
        try:
            self.save_logs(self._logs_dir)
        finally:
            self._containers.clear()
            self._exit.close()
