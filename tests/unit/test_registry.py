"""The suite registry (harness/registry.py): the entry-point group `harness.suites` declares every suite, the
harness's own as a team's; a broken declaration is one line naming the distribution and the field; and the gate,
the runner, the report and the CLI list no suite by hand."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from harness import registry
from harness.config import Settings
from harness.errors import ConfigError
from harness.home import harness_home
from harness.registry import Suite, validate

ROOT = Path(__file__).resolve().parents[2]
BUILT_IN = ("smoke", "contract", "security", "load", "live", "rollback", "flags", "checklist")


@pytest.fixture(autouse=True)
def fresh_registry():
    registry.suites.cache_clear()
    yield
    registry.suites.cache_clear()


def _dist(site: Path, name: str, entry_points: str, module: str = "", module_name: str = "") -> None:
    """A distribution as pip leaves one in a site directory: NAME-VERSION.dist-info with its entry points."""
    info = site / f"{name.replace('-', '_')}-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[harness.suites]\n{entry_points}\n")
    if module:
        (site / f"{module_name}.py").write_text(module)


def test_the_registry_loads_every_built_in_suite_with_its_declared_fields():
    suites = registry.suites()
    assert tuple(suites) == BUILT_IN  # report order (the `order` field), every one through the entry-point group
    for s in suites.values():
        assert "of distribution ai-orchestra-harness" in s.source, s.source
        assert s.tests is None and any(s.tests_dir(harness_home() / "tests").glob("test_*.py")), s.id
        for field in ("options", "section", "progress"):
            if getattr(s, field) is not None:
                assert callable(registry.resolve(s, field)), (s.id, field)
        if s.template is not None:
            assert (ROOT / "harness" / "report" / "templates" / "sections" / s.template).is_file()
    assert registry.destructive() == {"rollback"}
    assert "downgrades the database" in suites["rollback"].changes
    with_options = {"contract", "security", "load", "live", "flags", "checklist"}
    assert {s.id for s in suites.values() if s.options} == with_options
    assert {s.id for s in suites.values() if s.section} == {"smoke", "contract", "security", "load", "live"}
    assert {s.id for s in suites.values() if s.lists_checks} == {"smoke", "contract", "security", "load"}
    assert suites["security"].flags == ("zap_report", "trivy_cache_dir")
    assert suites["live"].flags == ("prometheus_url", "drive_load", "watch") and suites["live"].needs == ("prometheus",)
    assert suites["load"].progress == "harness.load.runner:progress_tail"
    assert all(s.folder == s.id for s in suites.values())


def test_each_built_in_options_loader_reads_its_own_table_and_bounds_it(tmp_path):
    """The loader the registry names is the suite's own: a number over its bound is one line naming the key."""
    for suite_id, key, value in (("flags", "users", 10**9), ("live", "window_s", 10**9)):
        settings = Settings(project_root=tmp_path, suite_options={suite_id: {key: value}})
        with pytest.raises(ConfigError, match=key):
            registry.get(suite_id).call("options", settings)


def test_flags_go_to_the_suite_that_declares_them():
    flags = {"zap_report": Path("z.json"), "watch": None, "prometheus_url": "http://p", "drive_load": False, "x": 1}
    got = registry.claim_flags(flags)
    assert got == {
        "security": {"zap_report": Path("z.json")},
        "live": {"prometheus_url": "http://p", "drive_load": False, "watch": None},
    }
    assert flags == {"x": 1}  # what no suite owns stays the command's


# -- no suite listed by hand ----------------------------------------------------------------------------------
READS_THE_REGISTRY = [
    "harness/gate.py",
    "harness/suites.py",
    "harness/cli.py",
    *sorted(str(p.relative_to(ROOT)) for p in (ROOT / "harness" / "report").glob("*.py")),
]


def _listed(path: Path, ids: set[str], root: Path = ROOT) -> list[str]:
    """String literals equal to a suite id, outside what names a command or a phase: click's decorators
    (`harness load`, `--phase load`), the commands that write a verdict, and a "phase" value."""
    tree = ast.parse(path.read_text())
    allowed: set[int] = set()
    for node in ast.walk(tree):
        parts: list[ast.AST] = []
        if isinstance(node, ast.FunctionDef):
            parts = list(node.decorator_list)
        elif isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "VERDICT_COMMANDS" for t in node.targets):
            parts = [node.value]
        elif isinstance(node, ast.Dict):
            parts = [v for k, v in zip(node.keys, node.values, strict=True) if getattr(k, "value", None) == "phase"]
        elif isinstance(node, ast.keyword) and node.arg == "phase":
            parts = [node.value]
        for part in parts:
            allowed |= {id(n) for n in ast.walk(part)}
    return [
        f"{path.relative_to(root)}:{n.lineno}: {n.value!r}"
        for n in ast.walk(tree)
        if isinstance(n, ast.Constant) and n.value in ids and id(n) not in allowed
    ]


def test_no_suite_id_is_listed_by_hand_in_the_gate_the_runner_the_report_or_the_cli():
    ids = set(registry.ids())
    found = [hit for name in READS_THE_REGISTRY for hit in _listed(ROOT / name, ids)]
    assert found == []
    templates = ROOT / "harness" / "report" / "templates" / "report.html.j2"
    assert not [s for s in ids if f"sections.{s}" in templates.read_text()]  # each section comes from its suite


def test_the_scan_sees_a_suite_listed_by_hand(tmp_path):
    """The check above can fail: a loader table keyed by suite ids is found, a command's name is not."""
    (tmp_path / "harness").mkdir()
    sample = tmp_path / "harness" / "gate.py"
    sample.write_text('LOADERS = {"contract": 1}\n@cli.command("load")\ndef f():\n    run(phase="load")\n')
    assert _listed(sample, set(BUILT_IN), tmp_path) == ["harness/gate.py:1: 'contract'"]


# -- bad declarations ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"id": "Team Suite"}, "id"),
        ({"id": "t", "options": "no colon"}, "options"),
        ({"id": "t", "tests": "not/a/package"}, "tests"),
        ({"id": "t", "reports": "../etc"}, "reports"),
        ({"id": "t", "destructive": "x" * 201}, "destructive"),
        ({"id": "t", "order": 10_000}, "order"),
        ({"id": "t", "order": True}, "order"),
        ({"id": "t", "template": "x.html.j2"}, "template"),  # a template needs a section function
        ({"id": "t", "flags": ["f"] * 17}, "flags"),
        ({"id": "t", "needs": ["docker"]}, "needs"),
        ({"id": "t", "colour": "red"}, "colour"),
        ({"tests": "t"}, "id"),
    ],
)
def test_a_bad_field_is_one_line_naming_the_field(fields, field):
    with pytest.raises(ConfigError) as info:
        validate(fields, "entry point 't' of distribution team 1.0")
    line = str(info.value)
    assert "\n" not in line and f"field {field!r}" in line and "distribution team 1.0" in line, line


def test_a_table_of_fields_is_a_suite_and_the_entry_point_is_named_after_its_id():
    assert validate({"id": "team", "flags": ["a"], "order": 5}, "here") == Suite(id="team", flags=("a",), order=5)
    with pytest.raises(ConfigError, match="named 'other': name it after the id"):
        validate(Suite(id="team"), "here", "other")
    with pytest.raises(ConfigError, match="not a harness.registry.Suite"):
        validate(42, "here")


def test_an_entry_point_of_another_distribution_joins_the_registry_and_a_clash_is_one_line(tmp_path, monkeypatch):
    module = "from harness.registry import Suite\nTEAM = Suite(id='team', order=1)\nSMOKE = Suite(id='smoke')\n"
    _dist(tmp_path, "team-suite", "team = team_mod:TEAM", module, "team_mod")
    monkeypatch.syspath_prepend(str(tmp_path))
    suites = registry.suites()
    assert next(iter(suites)) == "team" and suites["team"].order == 1  # its order puts it first
    assert "distribution team-suite 1.0" in suites["team"].source
    assert "team" in registry.ids()

    registry.suites.cache_clear()
    _dist(tmp_path, "other-suite", "smoke = team_mod:SMOKE")
    with pytest.raises(ConfigError) as info:
        registry.suites()
    line = str(info.value)
    assert line.startswith("suite id 'smoke' is declared twice: by entry point 'smoke' = "), line
    assert "distribution other-suite 1.0" in line and "distribution ai-orchestra-harness" in line, line
    assert line.endswith("uninstall one of them") and "\n" not in line


def test_a_function_field_that_does_not_import_is_one_line_when_it_is_called():
    s = validate({"id": "team", "options": "no_such_module_y:load"}, "here")
    with pytest.raises(ConfigError, match=r"field 'options': no_such_module_y:load cannot be loaded \(ModuleNotFound"):
        s.call("options", None)


# -- the report reads the registry ------------------------------------------------------------------------------
def _doc(suites: list[str]) -> dict:
    return {
        "schema": "harness.verdict/v1.1",
        "verdict": "go",
        "phase": "team",
        "target": {"base_url": "http://127.0.0.1:1", "stack": "local", "version": None},
        "started_at": "2026-11-26T10:00:00.000Z",
        "finished_at": "2026-11-26T10:00:30.000Z",
        "duration_s": 30.0,
        "scope": {"narrowed": False, "requested": None, "evaluated": suites, "omitted": []},
        "suites": {},
        "gates": [],
        "reasons": [],
        "notes": [],
        "policy": "defaults",
        "harness_version": "0.1.0",
    }


def test_a_team_section_is_a_table_every_cell_escaped_and_a_broken_one_costs_only_its_section(tmp_path, monkeypatch):
    from harness.report.html import render_html

    module = (
        "from harness.registry import Suite\n"
        "TEAM = Suite(id='team', section='team_sec:section', title='Team things')\n"
        "BROKEN = Suite(id='broken', section='team_sec:boom')\n"
        "def section(records, folder, secrets):\n"
        "    rows = [['<script>x</script>'], [folder.name]]\n"
        "    return {'columns': ['a'], 'rows': rows, 'note': 'n ' + str(len(records))}\n"
        "def boom(records, folder, secrets):\n"
        "    raise RuntimeError('no file')\n"
    )
    _dist(tmp_path, "team-suite", "team = team_sec:TEAM\nbroken = team_sec:BROKEN", module, "team_sec")
    monkeypatch.syspath_prepend(str(tmp_path))
    reports = tmp_path / "reports"
    reports.mkdir()
    records = [{"suite": "team", "id": "team.x", "outcome": "passed", "message": ""}]
    (reports / "evidence.json").write_text(json.dumps({"records": records}))
    html = render_html(_doc(["team", "broken"]), reports, [])
    assert "<h2>Team things</h2>" in html and "&lt;script&gt;x&lt;/script&gt;" in html and "<script>x" not in html
    assert "<td>team</td>" in html and "n 1" in html  # its folder under reports/ and its own records
    assert "the section of suite &#39;broken&#39; failed: RuntimeError: no file" in html
    assert "<code>team.x</code>" in html  # its checks are also under 'Other checks' (lists_checks is false)
