"""The containers stack's configuration and its build cache key, without a Docker engine."""

from __future__ import annotations

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
