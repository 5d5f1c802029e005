"""Settings: file -> HARNESS_* environment -> flags, checked on load."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.config import load_settings
from harness.errors import ConfigError
from harness.home import harness_home


def project(tmp_path: Path, table: str = "") -> Path:
    (tmp_path / "pyproject.toml").write_text(f"[project]\nname='x'\n[tool.harness]\n{table}")
    return tmp_path


def test_precedence_file_then_env_then_flags(tmp_path):
    root = project(tmp_path, 'phase = "beta"\nworkers = 1\n')
    s = load_settings({}, env={}, root=root)
    assert (s.phase, s.workers) == ("beta", 1)
    s = load_settings({}, env={"HARNESS_PHASE": "canary-10", "HARNESS_WORKERS": "2"}, root=root)
    assert (s.phase, s.workers) == ("canary-10", 2)
    s = load_settings({"phase": "full", "workers": None}, env={"HARNESS_PHASE": "canary-10"}, root=root)
    assert (s.phase, s.workers) == ("full", 1)


def test_paths_are_relative_to_the_project_root(tmp_path):
    s = load_settings({}, env={}, root=project(tmp_path, 'reports_dir = "out"\n'))
    assert s.reports_dir == tmp_path / "out"
    assert s.suites_dir == harness_home() / "tests"  # by default the harness's own suites, wherever it is installed
    given = load_settings({}, env={"HARNESS_SUITES_DIR": "mine"}, root=tmp_path)
    assert given.suites_dir == tmp_path / "mine"  # a suites_dir the user gives is the project's


def test_harness_toml_wins_over_pyproject(tmp_path):
    project(tmp_path, 'phase = "beta"\n')
    (tmp_path / "harness.toml").write_text('phase = "full"\n')
    assert load_settings({}, env={}, root=tmp_path).phase == "full"


def test_suites_flag_is_a_comma_list(tmp_path):
    s = load_settings({"suites": "smoke, contract"}, env={}, root=project(tmp_path))
    assert s.suites == ("smoke", "contract")


def test_target_implies_external_and_token_comes_only_from_env(tmp_path):
    s = load_settings(
        {"target": "https://staging.example"}, env={"HARNESS_TOKEN": "sekret-token"}, root=project(tmp_path)
    )
    assert (s.stack, s.token) == ("external", "sekret-token")
    assert "sekret-token" not in repr(s)


@pytest.mark.parametrize(
    ("table", "flags", "env", "message"),
    [
        ('phse = "beta"\n', {}, {}, "unknown key 'phse' (did you mean 'phase'?)"),
        ('token = "x"\n', {}, {}, "unknown key 'token'"),
        ("workers = 'many'\n", {}, {}, "workers = 'many' is not a valid int"),
        ("", {}, {"HARNESS_READY_TIMEOUT_S": "soon"}, "environment HARNESS_READY_TIMEOUT_S"),
        ("", {"stack": "locale"}, {}, "did you mean 'local'"),
        ("", {"target": "staging.example"}, {}, "must be an http:// or https:// URL"),
        ("", {"target": "http://x", "stack": "local"}, {}, "contradict"),
        ("", {"stack": "external"}, {}, "needs --target"),
        ("", {"app_port": 70000}, {}, "app_port"),
    ],
)
def test_bad_config_is_one_clear_error(tmp_path, table, flags, env, message):
    with pytest.raises(ConfigError) as info:
        load_settings(flags, env=env, root=project(tmp_path, table))
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_broken_toml_names_the_file(tmp_path):
    (tmp_path / "harness.toml").write_text("phase = \n")
    with pytest.raises(ConfigError, match="harness.toml: not valid TOML"):
        load_settings({}, env={}, root=tmp_path)


def test_suite_tables_are_kept_for_their_suites(tmp_path):
    s = load_settings({}, env={}, root=project(tmp_path, '[tool.harness.load]\nprofile = "nightly"\n'))
    assert s.options("load") == {"profile": "nightly"}
    assert s.options("contract") == {}
    with pytest.raises(ConfigError, match="did you mean 'load'"):
        load_settings({}, env={}, root=project(tmp_path, '[tool.harness.lod]\nprofile = "x"\n'))


def test_baseline_target_needs_a_target_and_is_a_plain_url():
    """baseline_target names a deployment's baseline: only beside --target, an http(s) URL without credentials."""
    from harness.config import load_settings
    from harness.errors import ConfigError

    ok = load_settings({"target": "http://127.0.0.1:8000", "baseline_target": "http://127.0.0.1:8001"}, env={})
    assert ok.baseline_target == "http://127.0.0.1:8001" and ok.stack == "external"
    for flags, words in (
        ({"baseline_target": "http://127.0.0.1:8001"}, "needs --target"),
        ({"target": "http://127.0.0.1:8000", "baseline_target": "ftp://x"}, "http:// or https://"),
        ({"target": "http://127.0.0.1:8000", "baseline_target": "http://u:p@h"}, "credentials"),
    ):
        with pytest.raises(ConfigError, match=words):
            load_settings(flags, env={})
