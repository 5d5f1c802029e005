"""The one options loader (harness.options): file table -> HARNESS_<SUITE>_<KEY> (+ short names) -> CLI flags,
and the CLI handing its suite flags down as data (Settings.suite_flags), never through os.environ."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from harness import cli
from harness.config import Settings, load_settings
from harness.contract.options import contract_options
from harness.errors import ConfigError
from harness.load.profiles import load_options, load_options_for
from harness.options import Option, OptionSpec, at_least, resolve, suite_options
from harness.security.options import SPEC as SECURITY
from harness.security.options import security_options
from harness.stack.containers import container_options

ROOT = Path(__file__).resolve().parents[2]

SPEC = OptionSpec(
    "demo",
    (
        Option("name", str, "x", aliases=("DEMO_NAME",), flag="--name"),
        Option("count", int, 3, check=at_least(1)),
        Option("paths", tuple, ("a",)),
        Option("mode", str, "fast", choices=("fast", "slow")),
        Option("secret_switch", bool, False, file=False),
        Option("table", dict, {}, env=False),
    ),
)


def test_layers_apply_in_order_and_each_value_says_where_it_came_from():
    table = {"name": "file", "count": 5}
    got = resolve(SPEC, table=table, env={})
    assert (got["name"], got["count"], got["mode"]) == ("file", 5, "fast")
    assert got.sources["name"] == "[tool.harness.demo]" and not got.given("mode")
    got = resolve(SPEC, table=table, env={"HARNESS_DEMO_NAME": "env", "HARNESS_DEMO_COUNT": "7"})
    assert (got["name"], got["count"]) == ("env", 7) and got.where("count") == "environment HARNESS_DEMO_COUNT"
    got = resolve(SPEC, table=table, env={"HARNESS_DEMO_NAME": "env", "DEMO_NAME": "alias"})
    assert got["name"] == "alias"  # the documented short name is read after HARNESS_<SUITE>_<KEY>
    got = resolve(SPEC, table=table, env={"DEMO_NAME": "alias"}, flags={"name": "flag", "count": None})
    assert (got["name"], got.where("name"), got["count"]) == ("flag", "--name", 5)  # flags win; None = not given
    got = resolve(SPEC, env={"HARNESS_DEMO_PATHS": "b, c,", "HARNESS_DEMO_SECRET_SWITCH": "yes"})
    assert got["paths"] == ("b", "c") and got["secret_switch"] is True


def test_a_blank_environment_value_is_unset_or_clears_the_key_as_the_spec_says():
    assert resolve(SPEC, table={"name": "file"}, env={"HARNESS_DEMO_NAME": " "})["name"] == "file"
    clearing = OptionSpec("demo", SPEC.options, blank="none")
    assert resolve(clearing, env={"HARNESS_DEMO_PATHS": ""})["paths"] is None


@pytest.mark.parametrize(
    ("table", "env", "flags", "message"),
    [
        ({"nmae": "x"}, {}, {}, "[tool.harness.demo]: unknown key 'nmae' (did you mean 'name'?)"),
        ({"secret_switch": True}, {}, {}, "[tool.harness.demo]: unknown key 'secret_switch'"),  # env/flags only
        ({}, {"HARNESS_DEMO_COUNT": "many"}, {}, "environment HARNESS_DEMO_COUNT: count = 'many' is not a valid int"),
        ({}, {"HARNESS_DEMO_COUNT": "0"}, {}, "environment HARNESS_DEMO_COUNT: count must be >= 1"),
        ({"count": 2.5}, {}, {}, "[tool.harness.demo]: count = 2.5 is not a valid int"),
        ({"count": True}, {}, {}, "count = True is not a valid int"),
        ({"mode": "slwo"}, {}, {}, "mode = 'slwo' is not one of fast, slow (did you mean 'slow'?)"),
        ({"paths": 3}, {}, {}, "paths = 3 is not a valid list of strings"),
        ({"table": "x"}, {}, {}, "table = 'x' is not a valid table"),
        ({}, {"HARNESS_DEMO_SECRET_SWITCH": "maybe"}, {}, "secret_switch = 'maybe' is not a valid bool"),
        ({}, {}, {"name": 5}, "--name: name = 5 is not a valid str"),
        ({}, {}, {"nope": 1}, "no demo option 'nope' for a command-line flag"),
    ],
)
def test_every_bad_value_is_one_line_naming_the_key_and_its_source(table, env, flags, message):
    with pytest.raises(ConfigError) as err:
        resolve(SPEC, table=table, env=env, flags=flags)
    assert message in str(err.value) and "\n" not in str(err.value)


def _settings(tmp_path: Path, pyproject: str = "", **suite_flags: dict) -> Settings:
    (tmp_path / "pyproject.toml").write_text(pyproject)
    settings = load_settings({}, env={}, root=tmp_path)
    return Settings.from_json(Settings(**{**_fields(settings), "suite_flags": suite_flags}).to_json())


def _fields(settings: Settings) -> dict:
    return {f: getattr(settings, f) for f in settings.__slots__}


def test_suite_flags_travel_in_the_settings_document_and_win_over_file_and_environment(tmp_path):
    s = _settings(
        tmp_path,
        '[tool.harness.security]\nzap_report = "file.json"\n',
        security={"zap_report": "/abs/flag.json", "trivy_cache_dir": "/abs/cache"},
    )
    opts = security_options(s, env={"HARNESS_ZAP_REPORT": "env.json", "HARNESS_TRIVY_CACHE_DIR": "/env/cache"})
    assert (opts.zap_report, opts.trivy_cache_dir) == (Path("/abs/flag.json"), Path("/abs/cache"))
    assert suite_options(SECURITY, s, {}).where("zap_report") == "--zap-report"
    no_flags = _settings(tmp_path, '[tool.harness.security]\nzap_report = "file.json"\n')
    assert security_options(no_flags, env={"HARNESS_ZAP_REPORT": "env.json"}).zap_report == tmp_path / "env.json"
    assert security_options(no_flags, env={}).zap_report == tmp_path / "file.json"


def test_contract_and_containers_read_every_key_from_the_environment_too(tmp_path):
    s = _settings(tmp_path)
    opts = contract_options(s, env={"HARNESS_CONTRACT_TIMEOUT_S": "3", "HARNESS_CONTRACT_BASELINE": "/b.json"})
    assert (opts.timeout_s, opts.baseline) == (3.0, Path("/b.json"))
    with pytest.raises(ConfigError, match="environment HARNESS_CONTRACT_TIMEOUT_S: timeout_s must be a positive"):
        contract_options(s, env={"HARNESS_CONTRACT_TIMEOUT_S": "0"})
    with pytest.raises(ConfigError, match=r"environment HARNESS_CONTRACT_PROFILE: unknown profile 'quik'"):
        contract_options(s, env={"HARNESS_CONTRACT_PROFILE": "quik"})
    images = container_options(s, env={"HARNESS_CONTAINERS_REDIS_IMAGE": "r:1"})
    assert (images.redis_image, images.postgres_image) == ("r:1", "postgres:16-alpine")


def test_load_flags_win_over_the_environment_and_name_themselves_in_errors():
    env = {"HARNESS_LOAD_USERS": "7", "HARNESS_LOAD_PROFILE": "internal", "HARNESS_ALLOW_REMOTE_LOAD": "0"}
    flags = {"users": 9, "duration_s": "30s", "profile": "smoke", "allow_remote_load": True, "history": True}
    o = load_options({}, phase="beta", root=ROOT, env=env, flags=flags)
    assert (o.profile.name, o.profile.users, o.profile.duration_s) == ("smoke", 9, 30.0)
    assert (o.allow_remote, o.record_history) == (True, True)
    assert load_options({}, phase="beta", root=ROOT, env=env).profile.users == 7
    with pytest.raises(ConfigError) as err:
        load_options({}, phase="beta", root=ROOT, env={}, flags={"duration_s": "soon"})
    assert "flag --duration duration_s = 'soon' is not a duration" in str(err.value)
    with pytest.raises(ConfigError, match="environment HARNESS_LOAD_HISTORY: history = 'maybe' is not a valid bool"):
        load_options({}, phase="beta", root=ROOT, env={"HARNESS_LOAD_HISTORY": "maybe"})


class _Stop(Exception):
    pass


def test_the_cli_hands_suite_flags_down_as_data_and_writes_no_environment(tmp_path, monkeypatch):
    """`harness gate --zap-report/--trivy-cache-dir` and `harness load --...`: Settings.suite_flags, paths
    absolute against the cwd, and os.environ untouched (the suites' child reads the settings document)."""
    import harness.gate
    import harness.load_gate

    seen: list[Settings] = []

    def capture(settings, *args, **kwargs):
        seen.append(settings)
        raise _Stop

    monkeypatch.setattr(harness.gate, "run_gate", capture)
    monkeypatch.setattr(harness.load_gate, "run_load", capture)
    (tmp_path / "pyproject.toml").write_text("[tool.harness]\n")
    monkeypatch.chdir(tmp_path)
    before = dict(os.environ)
    with pytest.raises(_Stop):
        cli.cli.main(["gate", "--zap-report", "z.json", "--trivy-cache-dir", "cache"], standalone_mode=False)
    assert seen[-1].suite_flags == {
        "security": {"zap_report": str(tmp_path / "z.json"), "trivy_cache_dir": str(tmp_path / "cache")}
    }
    with pytest.raises(_Stop):
        cli.cli.main(["gate"], standalone_mode=False)
    assert seen[-1].suite_flags == {}
    argv = ["load", "--profile", "pr", "--users", "5", "--duration", "9s", "--workers", "2", "--history"]
    with pytest.raises(_Stop):
        cli.cli.main([*argv, "--history-file", "h.jsonl", "--allow-remote-load"], standalone_mode=False)
    flags = seen[-1].suite_flags["load"]
    assert flags == {
        "profile": "pr",
        "users": 5,
        "duration_s": "9s",
        "workers": 2,
        "history": True,
        "history_file": str(tmp_path / "h.jsonl"),
        "allow_remote_load": True,
    }
    assert dict(os.environ) == before
    doc = Settings.from_json(seen[-1].to_json())
    assert doc.suite_flags["load"] == json.loads(json.dumps(flags))
    (tmp_path / "tests/load").mkdir(parents=True)
    (tmp_path / "tests/load/locustfile.py").write_text("")
    o = load_options_for(doc, env={})
    assert (o.profile.name, o.profile.users, o.profile.workers, o.record_history) == ("pr", 5, 2, True)
    assert o.history_file == tmp_path / "h.jsonl"
    with pytest.raises(_Stop):
        cli.cli.main(["load", "--users", "0", "--processes", "-1"], standalone_mode=False)
    assert seen[-1].suite_flags == {"load": {"users": 0, "processes": -1}}  # a 0 is a value, not "not given"
    assert dict(os.environ) == before
