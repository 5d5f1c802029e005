# ruff: noqa: E501 - the table of malformed files reads best one case per line
"""The pre-deployment checklist's inputs and items: attestations (malformed one line; expired fails its
item), JUnit and Cobertura evidence, manifests, runbook and change log, each judged for real."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from harness.checklist import ITEMS
from harness.checklist.attestations import load_attestations, parse_attestations
from harness.checklist.evidence import Context, evaluate
from harness.checklist.options import ChecklistOptions, checklist_options
from harness.config import Settings
from harness.errors import ConfigError
from harness.target import Target

ROOT = Path(__file__).resolve().parents[2]
GOOD = '[[attestation]]\nitem = "code_review"\nby = "dana"\nat = 2026-11-20\nexpires = 2026-12-20\n'


def ctx(tmp_path: Path, **opts: object) -> Context:
    base = dict(
        junit=None, coverage=None, coverage_min=80.0, verdict=None, attestations=None, runbook=None,
        alerts=ROOT / "deploy/prometheus/alerts.yml", changelog=ROOT / "CHANGELOG.md", manifests=ROOT / "deploy",
    )  # fmt: skip
    base.update(opts)
    target = Target("http://127.0.0.1:9", version="2.0.0")
    return Context(ChecklistOptions(**base), ROOT, target=target, today=date(2026, 12, 1))  # type: ignore[arg-type]


def test_every_item_of_the_guides_checklist_is_there_once():
    assert len(ITEMS) == 14 and len({i.id for i in ITEMS}) == 14
    assert {i.id for i in ITEMS if i.how == "attested"} == {"code_review", "team_notified"}


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("[[attestation]\n", "not valid TOML"),
        ('[[attestation]]\nitem = "code_review"\nby = "x"\nat = 2026-01-01\n', "has no expires"),
        ('[[attestation]]\nitem = "code_reveiw"\nby = "x"\nat = 2026-01-01\nexpires = 2026-02-01\n', "did you mean 'code_review'"),
        ('[[attestation]]\nitem = "code_review"\nby = "x"\nat = 2026-01-01\nexpires = "soon"\n', "is not a date"),
        ('[[attestation]]\nitem = "code_review"\nby = "x"\nat = 2026-03-01\nexpires = 2026-02-01\n', "is before at"),
        ('[[attestation]]\nitem = "code_review"\nwho = "x"\n', "unknown key 'who'"),
        ('[review]\nok = true\n', "use [[attestation]] tables"),
    ],
)  # fmt: skip
def test_a_malformed_attestations_file_is_one_config_error(text, says):
    with pytest.raises(ConfigError) as err:
        parse_attestations(text, "a.toml")
    assert says in str(err.value) and "\n" not in str(err.value)


def test_an_attestation_holds_until_it_expires(tmp_path):
    path = tmp_path / "a.toml"
    path.write_text(GOOD)
    assert evaluate("code_review", ctx(tmp_path, attestations=path)).state == "pass"
    late = ctx(tmp_path, attestations=path)
    late.today = date(2026, 12, 21)
    result = evaluate("code_review", late)
    assert result.state == "fail" and "expired 2026-12-20" in result.evidence
    assert evaluate("team_notified", ctx(tmp_path, attestations=path)).state == "fail"  # not attested
    with pytest.raises(ConfigError, match="does not exist"):
        load_attestations(tmp_path / "missing.toml")


def test_junit_and_coverage_evidence(tmp_path):
    junit = tmp_path / "junit.xml"
    junit.write_text('<testsuites><testsuite tests="5" failures="1" errors="0"/></testsuites>')
    assert evaluate("tests_passing", ctx(tmp_path, junit=junit)).state == "fail"
    junit.write_text('<testsuite tests="5" failures="0" errors="0"/>')
    assert evaluate("tests_passing", ctx(tmp_path, junit=junit)).state == "pass"
    junit.write_text("not xml <")
    with pytest.raises(ConfigError, match="is not a readable XML file"):
        evaluate("tests_passing", ctx(tmp_path, junit=junit))
    cov = tmp_path / "coverage.xml"
    cov.write_text('<coverage line-rate="0.79"/>')
    result = evaluate("coverage", ctx(tmp_path, coverage=cov))
    assert result.state == "fail" and "79.0 %" in result.evidence
    cov.write_text('<coverage line-rate="0.81"/>')
    assert evaluate("coverage", ctx(tmp_path, coverage=cov)).state == "pass"
    assert evaluate("coverage", ctx(tmp_path)).state == "fail"  # no evidence configured


def test_manifests_runbook_changelog_and_migrations(tmp_path):
    assert evaluate("load_balancer", ctx(tmp_path)).state == "pass"
    bad = ROOT / "tests/unit/fixtures/security/bad-k8s"
    result = evaluate("load_balancer", ctx(tmp_path, manifests=bad))
    assert result.state == "fail", result
    runbook = tmp_path / "runbook.md"
    runbook.write_text("## HighErrorRate\n## HighLatency\n")
    result = evaluate("runbook", ctx(tmp_path, runbook=runbook))
    assert result.state == "fail" and "WebSocketConnectionLimit" in result.evidence
    assert evaluate("runbook", ctx(tmp_path, runbook=ROOT / "deploy/runbook.md")).state == "pass"
    assert evaluate("changelog", ctx(tmp_path)).state == "pass"
    other = ctx(tmp_path)
    other.target = Target("http://127.0.0.1:9", version="2.1.0")
    assert evaluate("changelog", other).state == "fail"
    assert evaluate("migrations", ctx(tmp_path)).state == "pass"


def test_a_configured_input_that_is_missing_is_one_line(tmp_path):
    settings = Settings(project_root=tmp_path, suite_options={"checklist": {"junit": "ci/junit.xml"}})
    with pytest.raises(ConfigError, match=r"checklist junit: .*ci/junit.xml does not exist"):
        checklist_options(settings)


def test_default_paths_fall_back_to_the_harness_home_and_a_given_one_must_exist(tmp_path):
    """From a directory that is no project (an installed harness, the image's /data): the default alerts file and
    manifests are the harness home's (the reference service's own), the absent default change log stays as it is
    (its item fails), and nothing is refused; a path the user gives that is not there is one line."""
    from dataclasses import replace as _replace

    from harness.checklist.options import checklist_options
    from harness.config import load_settings
    from harness.errors import ConfigError
    from harness.home import harness_home

    settings = _replace(load_settings({}, env={}, root=tmp_path), project_root=tmp_path)
    opts = checklist_options(settings)
    assert opts.alerts == harness_home() / "deploy/prometheus/alerts.yml" and opts.alerts.is_file()
    assert opts.manifests == harness_home() / "deploy"
    assert opts.changelog == tmp_path / "CHANGELOG.md" and not opts.changelog.exists()
    given = _replace(settings, suite_options={"checklist": {"alerts": "nowhere/alerts.yml"}})
    with pytest.raises(ConfigError, match="checklist alerts: .*nowhere/alerts.yml does not exist"):
        checklist_options(given)
