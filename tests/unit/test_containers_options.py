"""The containers stack's configuration and its build cache key, without a Docker engine."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from harness.config import load_settings
from harness.errors import ConfigError
from harness.stack.containers import app_image_hash, container_options


def settings(tmp_path: Path, table: str = ""):
    (tmp_path / "pyproject.toml").write_text(f"[project]\nname='x'\n[tool.harness.containers]\n{table}")
    return load_settings({}, env={}, root=tmp_path)


def test_official_images_by_default_and_offline_on_request(tmp_path):
    opts = container_options(settings(tmp_path), env={})
    assert (opts.postgres_image, opts.redis_image, opts.app_base_image) == (
        "postgres:16-alpine",
        "redis:7-alpine",
        "python:3.11-slim",
    )
    offline = container_options(settings(tmp_path), env={"HARNESS_CONTAINERS_IMAGES": "offline"})
    assert offline.postgres_image == "harness-offline/postgres:16"
    custom = container_options(settings(tmp_path, 'postgres_image = "registry.local/pg:16"\n'), env={})
    assert custom.postgres_image == "registry.local/pg:16"


@pytest.mark.parametrize(
    ("table", "env", "message"),
    [
        ('postgres_img = "x"\n', {}, "did you mean 'postgres_image'"),
        ("", {"HARNESS_CONTAINERS_IMAGES": "ofline"}, "did you mean 'offline'"),
    ],
)
def test_bad_container_options_are_one_clear_error(tmp_path, table, env, message):
    with pytest.raises(ConfigError, match=message):
        container_options(settings(tmp_path, table), env=env)


def test_the_app_image_tag_follows_its_inputs(tmp_path):
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "main.py").write_text("x = 1\n")
    (tmp_path / "Dockerfile").write_text("FROM base\n")
    first = app_image_hash(tmp_path, "Dockerfile", "sha256:base")
    assert first == app_image_hash(tmp_path, "Dockerfile", "sha256:base")
    assert first != app_image_hash(tmp_path, "Dockerfile", "sha256:other-base")
    (tmp_path / "app" / "main.py").write_text("x = 2\n")
    assert first != app_image_hash(tmp_path, "Dockerfile", "sha256:base")


def test_the_prometheus_image_follows_the_image_set(tmp_path):
    assert container_options(settings(tmp_path), env={}).prometheus_image == "prom/prometheus:v2.53.2"
    offline = container_options(settings(tmp_path), env={"HARNESS_CONTAINERS_IMAGES": "offline"})
    assert offline.prometheus_image == "harness-offline/prometheus:2"
    custom = container_options(settings(tmp_path), env={"HARNESS_CONTAINERS_PROMETHEUS_IMAGE": "registry.local/prom:3"})
    assert custom.prometheus_image == "registry.local/prom:3"


def test_the_prometheus_container_scrapes_by_network_name_with_the_local_stacks_rules(tmp_path):
    """The files copied into the Prometheus container: the apps by their names on the stack's network, and the
    rules file the local stack's Prometheus loads, named where the container reads it."""
    import yaml

    from harness.stack.containers import PROMETHEUS_DIR
    from harness.stack.prometheus import CONFIG, RULES, local_rules, prometheus_files

    root = Path(__file__).parents[2]
    apps = {"candidate": "http://app:8000", "baseline": "http://app-baseline:8000"}
    files = prometheus_files(apps, root, PROMETHEUS_DIR)
    assert set(files) == {CONFIG, RULES}
    config = yaml.safe_load(files[CONFIG])
    assert config["rule_files"] == [f"{PROMETHEUS_DIR}/{RULES}"]
    scraped = {
        j["static_configs"][0]["labels"]["track"]: j["static_configs"][0]["targets"] for j in config["scrape_configs"]
    }
    assert scraped == {"candidate": ["app:8000"], "baseline": ["app-baseline:8000"]}
    assert yaml.safe_load(files[RULES]) == local_rules(root / "deploy/prometheus/alerts.yml")
    bare = prometheus_files({"candidate": "http://app:8000"}, tmp_path, PROMETHEUS_DIR)  # a project without rules
    assert set(bare) == {CONFIG} and "rule_files" not in yaml.safe_load(bare[CONFIG])


def test_a_baseline_container_gets_the_baseline_faults_never_the_candidates(tmp_path, monkeypatch):
    from harness.stack.containers import ContainersStack

    stack = ContainersStack(settings(tmp_path))
    monkeypatch.setenv("ORCHESTRA_FAULTS", "latency_regression=100")
    monkeypatch.delenv("ORCHESTRA_BASELINE_FAULTS", raising=False)
    assert stack._env("db", "t", "a")["ORCHESTRA_FAULTS"] == "latency_regression=100"
    assert "ORCHESTRA_FAULTS" not in stack._env("db", "t", "a", baseline=True)
    monkeypatch.setenv("ORCHESTRA_BASELINE_FAULTS", "chat_5xx")
    assert stack._env("db", "t", "a", baseline=True)["ORCHESTRA_FAULTS"] == "chat_5xx"
    assert stack._env("db", "t", "a")["ORCHESTRA_FAULTS"] == "latency_regression=100"


def test_the_app_image_builds_from_the_project_the_checkout_or_a_staged_copy_of_an_installed_harness(tmp_path):
    """From a directory that is not the project (an installed wheel), the build context is staged from the
    harness's home and the installed app package: the same files, so the same content hash (the same image)."""
    from harness.config import Settings
    from harness.stack.containers import app_image_hash, build_root, stage_build_context

    root = Path(__file__).resolve().parents[2]
    assert build_root(Settings(project_root=root, home=root), "deploy/Dockerfile") == root
    assert build_root(Settings(project_root=tmp_path, home=root), "deploy/Dockerfile") == root  # the checkout
    assert build_root(Settings(project_root=tmp_path, home=tmp_path), "deploy/Dockerfile") is None
    stage = stage_build_context(root, "deploy/Dockerfile")
    try:
        assert (stage / "deploy" / "Dockerfile").is_file() and (stage / "app" / "requirements.txt").is_file()
        assert (stage / "alembic.ini").is_file() and not list(stage.rglob("__pycache__"))
        assert app_image_hash(stage, "deploy/Dockerfile", "base") == app_image_hash(root, "deploy/Dockerfile", "base")
    finally:
        shutil.rmtree(stage)
    assert not stage.exists()
